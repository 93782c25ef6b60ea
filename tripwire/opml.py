"""OPML in and out: a feed reader's subscription list becomes ``feeds:`` entries, and the config's feeds an OPML file.

An OPML file comes from another program or another person, so it is parsed like a feed: with defusedxml, which
refuses DTDs, entity declarations (billion laughs, quadratic blow-up) and external references outright, and with a
size cap. Outlines with an ``xmlUrl`` are feeds; the outlines they sit in are categories. Each category level becomes
one label, as a lower-case slug (``Middle East`` > ``Syria`` gives ``[middle-east, syria]``), followed by the levels of
any OPML 2 ``category`` attribute; export nests the feeds back by their labels, so import -> export -> import gives
the same feeds. A feed already in the config, or twice in the file, is skipped and reported.

Nothing read here may reach the environment: a value carrying ``${`` (which the config loader expands) refuses its
outline, and every value is written through shared/config/expand.literal (tripwire/feed_entries.py).
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from shared.config import FeedConfig
from shared.config.expand import ImportedReference, literal
from shared.text import plain

MAX_OPML_BYTES = 5 * 1024 * 1024
MAX_FEEDS = 10_000
MAX_DEPTH = 20  # categories nest a few levels; thousands of levels are an attack on the walk, not a reading list
MAX_TEXT_CHARS = 100
_NOT_SLUG = re.compile(r"[\W_]+")
# ISO 639 codes with an optional region or script (ar, ku, ckb, pt-br, zh-hant); anything else is left out.
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]{2,8})*")


class OpmlError(Exception):
    """The OPML file cannot be used; the message says why and what to do."""


@dataclass
class ImportResult:
    """What an import found: new feeds, and the outlines skipped (``refused``: for trying to read the environment)."""

    feeds: list[FeedConfig] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def feed_key(url: str) -> str:
    """Feeds compare by URL without scheme case, trailing slash or fragment."""
    return url.strip().split("#", 1)[0].rstrip("/").lower()


def label_slug(text: str) -> str:
    """One label as subscriptions match it: lower case, runs of anything but letters and digits as one ``-``.

    Letters of any script stay (``Sûriye``, ``سوريا`` keep their letters, lower-cased). Idempotent, so a label that was
    exported and imported again is the same label.
    """
    return _NOT_SLUG.sub("-", plain(text).casefold()).strip("-")[:MAX_TEXT_CHARS].strip("-")


def label_path(text: str) -> list[str]:
    """The labels of one category written as a path (``Middle East/Syria``, ``/Tourism/Boston``): a slug per level."""
    return [slug for part in text.split("/") if (slug := label_slug(part))]


def display_text(value: str) -> str:
    """A feed's name as plain, capped text; cleaned until it stops changing, so a re-import reads the same name."""
    text = value
    for _ in range(10):  # each pass only shortens or unescapes: a few passes reach the fixed point
        cleaned = plain("".join(c for c in text if unicodedata.category(c)[0] != "C"))[:MAX_TEXT_CHARS].strip()
        if cleaned == text:
            break
        text = cleaned
    return text


def feed_language(value: str | None) -> str | None:
    """An outline's ``language`` attribute as a lower-case code, or None when it is missing or not a code."""
    code = (value or "").strip().lower()
    return code if _LANGUAGE.fullmatch(code) else None


def read_opml(data: bytes, existing: list[FeedConfig] | None = None) -> ImportResult:
    """The feeds an OPML document lists that ``existing`` does not have yet."""
    if len(data) > MAX_OPML_BYTES:
        raise OpmlError(f"larger than {MAX_OPML_BYTES // (1024 * 1024)} MB; refused")
    try:
        root = safe_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise OpmlError(f"refused as unsafe XML ({type(exc).__name__}): OPML needs no DTD or entities") from None
    except ParseError as exc:
        raise OpmlError(f"not well-formed XML: {exc}") from None
    if root.tag != "opml" or root.find("body") is None:
        raise OpmlError("not an OPML document (no <opml><body>)")
    seen = {feed_key(feed.url) for feed in existing or []}
    result = ImportResult()
    body = root.find("body")
    assert body is not None  # noqa: S101 - checked above; mypy needs it
    _walk(body, [], seen, result)
    return result


def _walk(node: Any, path: list[str], seen: set[str], result: ImportResult, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise OpmlError(f"categories nested more than {MAX_DEPTH} levels deep; refused")
    for outline in node.findall("outline"):
        text = outline.get("text") or outline.get("title") or ""
        url = (outline.get("xmlUrl") or "").strip()
        if not url:
            _walk(outline, [*path, *label_path(text)], seen, result, depth + 1)
            continue
        if len(result.feeds) >= MAX_FEEDS:
            result.skipped.append((url[:200], f"more than {MAX_FEEDS} feeds in one file"))
            continue
        name = display_text(text)
        try:
            # The security rule first: an outline that tries to read the environment is refused whole, and named.
            literal(url)
            literal(name)
        except ImportedReference:
            result.refused.append((name or url[:200], _REFERENCE_REFUSAL))
            continue
        labels = list(path)
        for category in (outline.get("category") or "").split(","):
            labels += label_path(category)
        feed = _feed(url, "" if text.strip() == url else name, list(dict.fromkeys(labels)), outline.get("language"))
        if feed is None:
            result.skipped.append((url[:200], "not an http(s) feed URL"))
            continue
        if feed_key(feed.url) in seen:
            result.skipped.append((feed.url, "already listed"))
            continue
        seen.add(feed_key(feed.url))
        result.feeds.append(feed)


_REFERENCE_REFUSAL = (
    "refused: its xmlUrl or title contains ${, which the config loader would replace with the value of an environment "
    "variable (a webhook URL, a password) and send to the feed's host on every poll; an OPML file has no business "
    "naming one. Remove the outline, or add the feed by hand if you wrote it"
)


def _feed(url: str, name: str, labels: list[str], language: str | None) -> FeedConfig | None:
    # Whitespace and control characters have no place in a URL, and XML 1.0 cannot even carry most of them back out.
    if any(c.isspace() or unicodedata.category(c)[0] == "C" for c in url):
        return None
    try:
        return FeedConfig(url=url, name=name or None, labels=labels, language=feed_language(language))
    except ValueError:
        return None


def write_opml(feeds: list[FeedConfig], title: str = "Tripwire feeds") -> bytes:
    """An OPML 2.0 document of ``feeds``, nested in category outlines by their labels (first label outermost)."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    # The feeds in their order, each in the category outlines of its labels: a run of feeds with the same first
    # labels shares their outlines, and a category met again after others is written again, so the next import
    # reads the same feeds in the same order (import -> export -> import is stable).
    chain: list[tuple[str, ET.Element]] = []
    for feed in feeds:
        common = 0
        while common < min(len(chain), len(feed.labels)) and chain[common][0] == feed.labels[common]:
            common += 1
        del chain[common:]
        for label in feed.labels[common:]:
            parent = chain[-1][1] if chain else body
            chain.append((label, ET.SubElement(parent, "outline", text=label, title=label)))
        attrs = {"type": "rss", "text": feed.name or feed.url, "title": feed.name or feed.url, "xmlUrl": feed.url}
        if feed.language:
            attrs["language"] = feed.language
        ET.SubElement(chain[-1][1] if chain else body, "outline", attrs)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
