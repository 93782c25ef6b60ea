"""The gazetteer: the shipped flashpoint's places found in item text in every language it lists, and per-topic
places from the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.classifier.places import LANGUAGES, Gazetteer, GazetteerError, shipped_places
from shared.config import PlaceConfig, TopicConfig

TOPICS = {"standoff": TopicConfig(examples=["A convoy standoff."])}
REQUIRED = ["Derik", "Qamishli", "Qasr Dib", "Tal Tamr", "Hasakah", "Rmeilan", "Kobani", "Ain Issa", "Manbij",
            "Idlib", "Ariha", "Saraqib", "Jisr al-Shughur", "M4 highway", "M5 highway", "Deir ez-Zor", "Raqqa",
            "Amuda", "Darbasiyah"]  # fmt: skip


def found(text: str, gazetteer: Gazetteer | None = None) -> list[str]:
    return [place.name for place in (gazetteer or Gazetteer(TOPICS)).find("standoff", text)]


def test_shipped_gazetteer_has_the_flashpoint_in_five_languages() -> None:
    import yaml

    from services.classifier.places import GAZETTEER_FILE

    raw = {entry["name"]: entry for entry in yaml.safe_load(GAZETTEER_FILE.read_text())["places"]}
    assert set(REQUIRED) <= set(raw)
    for name, entry in raw.items():
        assert all(entry.get(language) for language in LANGUAGES), name
        assert 32 <= entry["lat"] <= 38 and 35 <= entry["lon"] <= 43, name  # Syria's box
    assert {p.name for p in shipped_places() if p.route} == {"M4 highway", "M5 highway"}


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("US convoy blocked near Derik, then turned back to Qamishli", ["Derik", "Qamishli"]),
        ("Российский патруль остановил колонну на трассе М4 в Идлибе", ["M4 highway", "Idlib"]),
        ("دورية روسية قرب القامشلي وبالحسكة", ["Qamishli", "Hasakah"]),
        ("Türk-Rus ortak devriyesi Kamışlı ve Münbiç yakınında", ["Qamishli", "Manbij"]),
        ("Patrola hevbeş li Kobanî û Dêrik", ["Kobani", "Derik"]),
        ("An M40 rifle and a Tanfoglio pistol", []),  # short names match whole words only
        ("The Ideal Library opened", []),
    ],
)
def test_places_are_found_in_every_language_and_in_order(text: str, places: list[str]) -> None:
    assert found(text) == places


def test_a_topic_adds_places_and_replaces_a_shipped_one() -> None:
    topics = {
        "standoff": TopicConfig(
            examples=["x"],
            places=[PlaceConfig(name="Tal Baydar", lat=36.73, lon=40.93, names=["تل بيدر"]),
                    PlaceConfig(name="Derik", lat=37.1, lon=42.2, names=["Dirk-town"])],
        ),
        "other": TopicConfig(examples=["y"]),
    }  # fmt: skip
    gazetteer = Gazetteer(topics)
    assert found("Convoy at تل بيدر and Dirk-town", gazetteer) == ["Tal Baydar", "Derik"]
    assert gazetteer.find("standoff", "Dirk-town")[0].lat == 37.1
    assert [p.name for p in gazetteer.find("other", "Tal Baydar, Derik")] == ["Derik"]  # not another topic's


def test_a_malformed_gazetteer_file_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "gazetteer.yaml"
    bad.write_text("places:\n  - {name: Nowhere, lat: north, lon: 1}\n")
    with pytest.raises(GazetteerError, match=r"places\[0\] \(Nowhere\): lat, lon"):
        shipped_places.__wrapped__(bad)


def test_a_blank_place_name_in_the_config_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="place names must not be empty"):
        PlaceConfig(name="Tal Baydar", lat=36.7, lon=40.9, names=[" "])
    with pytest.raises(ValidationError, match="less than or equal to 90"):
        PlaceConfig(name="Nowhere", lat=95, lon=0)
