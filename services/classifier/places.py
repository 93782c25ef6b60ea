"""The places an item names: the shipped gazetteer (gazetteer.yaml) plus each topic's own, matched in item text.

Names are matched as whole words, case-insensitively, in every language the gazetteer lists. Two allowances keep
Arabic, Russian and Turkish reports from being missed: an Arabic name may carry the clitic prefixes wa-, bi-,
li-, fa- and ka- ("والقامشلي"), and a name of five letters or more may carry up to three more letters
("в Идлибе", "Manbij'de" is a separate word anyway). Short names (M4, Tanf) must match exactly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from shared.config import PlaceConfig, TopicConfig
from shared.errors import InputError
from shared.schemas import Place

GAZETTEER_FILE = Path(__file__).with_name("gazetteer.yaml")
LANGUAGES = ("en", "ar", "ku", "ru", "tr")
_ARABIC = re.compile(r"[\u0600-\u06FF]")
_ARABIC_CLITICS = "(?:[وبلفك]{1,2})?"
_INFLECTION_FROM = 5  # letters; shorter names get no inflection allowance (M4 must not match M40)


class GazetteerError(InputError, ValueError):
    """The gazetteer file is malformed: the message names the entry and what to fix."""


@dataclass(frozen=True)
class GazetteerPlace:
    """One place: its display name, point, every name it goes by, and for a road its coarse route (lat, lon)."""

    name: str
    lat: float
    lon: float
    names: tuple[str, ...]
    route: tuple[tuple[float, float], ...] = ()
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", _pattern(self.names))

    @property
    def place(self) -> Place:
        """The schema's Place an alert carries."""
        return Place(name=self.name, lat=self.lat, lon=self.lon)


def _term(name: str) -> str:
    text = re.escape(name.strip())
    if _ARABIC.search(name):
        return _ARABIC_CLITICS + text
    return text + (r"\w{0,3}" if len(name.strip()) >= _INFLECTION_FROM else "")


def _pattern(names: Sequence[str]) -> re.Pattern[str]:
    terms = sorted({_term(name) for name in names if name.strip()}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(terms) + r")(?!\w)", re.IGNORECASE)


def _entry(raw: Any, where: str) -> GazetteerPlace:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise GazetteerError(f"{where}: each place needs a name, lat and lon")
    try:
        lat, lon = float(raw["lat"]), float(raw["lon"])
        route = tuple((float(a), float(b)) for a, b in raw.get("route", []))
    except (KeyError, TypeError, ValueError):
        raise GazetteerError(f"{where} ({raw['name']}): lat, lon and route points must be numbers") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise GazetteerError(f"{where} ({raw['name']}): lat {lat}, lon {lon} is not on Earth")
    names = [raw["name"]] + [str(n) for language in LANGUAGES for n in raw.get(language, [])]
    return GazetteerPlace(raw["name"], lat, lon, tuple(dict.fromkeys(names)), route)


@cache
def shipped_places(path: Path = GAZETTEER_FILE) -> tuple[GazetteerPlace, ...]:
    """The shipped gazetteer, read and compiled once per process."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = doc.get("places") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise GazetteerError(f"{path}: expected a 'places' list")
    return tuple(_entry(raw, f"{path}: places[{index}]") for index, raw in enumerate(entries))


def _configured(place: PlaceConfig) -> GazetteerPlace:
    return GazetteerPlace(place.name, place.lat, place.lon, tuple(dict.fromkeys([place.name, *place.names])))


class Gazetteer:
    """Finds the places an item names, per topic: the shipped places plus (replacing same-named ones) the topic's."""

    def __init__(self, topics: Mapping[str, TopicConfig], shipped: Sequence[GazetteerPlace] | None = None) -> None:
        base = {place.name: place for place in (shipped_places() if shipped is None else shipped)}
        self._by_topic = {
            topic: tuple({**base, **{p.name: _configured(p) for p in config.places}}.values())
            for topic, config in topics.items()
        }
        self._default = tuple(base.values())

    def places(self, topic: str) -> tuple[GazetteerPlace, ...]:
        """Every place ``topic`` looks for."""
        return self._by_topic.get(topic, self._default)

    def find(self, topic: str, text: str) -> list[Place]:
        """The places ``text`` names, in the order they first appear."""
        found = []
        for place in self.places(topic):
            match = place.pattern.search(text)
            if match is not None:
                found.append((match.start(), place.place))
        return [place for _, place in sorted(found, key=lambda pair: pair[0])]
