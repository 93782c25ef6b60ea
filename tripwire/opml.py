"""OPML in and out: a feed reader's subscription list becomes ``feeds:`` entries, and the config's feeds an OPML file.

An OPML file comes from another program or another person, so it is parsed like a feed: with defusedxml, which
refuses DTDs, entity declarations (billion laughs, quadratic blow-up) and external references outright, and with a
size cap. Outlines with an ``xmlUrl`` are feeds; the outlines they sit in are categories, kept as one label (the path,
``Middle East/Syria``), plus any OPML 2 ``category`` attribute. A feed already in the config, or twice in the file, is
skipped and reported.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from shared.config import FeedConfig
from shared.errors import InputError
from shared.text import plain

MAX_OPML_BYTES = 5 * 1024 * 1024
MAX_FEEDS = 10_000
MAX_DEPTH = 20  # categories nest a few levels; thousands of levels are an attack on the walk, not a reading list


class OpmlError(InputError):
    """The OPML file cannot be used; the message says why and what to do."""


@dataclass
class ImportResult:
    """What an import found: new feeds, and the outlines skipped with the reason."""

    feeds: list[FeedConfig] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _key(url: str) -> str:
    """Feeds compare by URL without scheme case, trailing slash or fragment."""
    return url.strip().split("#", 1)[0].rstrip("/").lower()


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
    seen = {_key(feed.url) for feed in existing or []}
    result = ImportResult()
    body = root.find("body")
    assert body is not None  # noqa: S101 - checked above; mypy needs it
    _walk(body, [], seen, result)
    return result


def _walk(node: Any, path: list[str], seen: set[str], result: ImportResult, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise OpmlError(f"categories nested more than {MAX_DEPTH} levels deep; refused")
    for outline in node.findall("outline"):
        label = plain(outline.get("text") or outline.get("title") or "")[:100]
        url = (outline.get("xmlUrl") or "").strip()
        if not url:
            _walk(outline, [*path, label] if label else path, seen, result, depth + 1)
            continue
        if len(result.feeds) >= MAX_FEEDS:
            result.skipped.append((url, f"more than {MAX_FEEDS} feeds in one file"))
            continue
        labels = ["/".join(path)] if path else []
        labels += [c.strip().strip("/") for c in (outline.get("category") or "").split(",") if c.strip().strip("/")]
        try:
            feed = FeedConfig(url=url, name=label or None, labels=list(dict.fromkeys(plain(x)[:100] for x in labels)))
        except ValueError:
            result.skipped.append((url[:200], "not an http(s) feed URL"))
            continue
        if _key(feed.url) in seen:
            result.skipped.append((feed.url, "already listed"))
            continue
        seen.add(_key(feed.url))
        result.feeds.append(feed)


def _entry(feed: FeedConfig) -> CommentedMap:
    entry = CommentedMap(url=feed.url)
    if feed.name:
        entry["name"] = feed.name
    if feed.labels:
        labels = CommentedSeq(feed.labels)
        labels.fa.set_flow_style()
        entry["labels"] = labels
    entry.fa.set_flow_style()  # one line per feed, like the shipped config
    return entry


def _yaml() -> YAML:
    yaml = YAML()  # round trip: comments, order, quotes and flow style survive
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def feeds_yaml(feeds: list[FeedConfig]) -> str:
    """The ``feeds:`` block to paste into a config file."""
    stream = io.StringIO()
    _yaml().dump({"feeds": CommentedSeq(_entry(feed) for feed in feeds)}, stream)
    return stream.getvalue()


def add_to_config(path: Path, feeds: list[FeedConfig]) -> None:
    """Append ``feeds`` to the config file's ``feeds:`` list, keeping every other byte of the file as it was.

    A round-trip YAML dump would keep comments but re-flow long flow lists elsewhere in the file, so the new entries
    are inserted as text: after the last line of the existing ``feeds:`` block, at its indentation (or as a new block
    at the end). ruamel.yaml only locates the block and formats the entries (quoting what needs it).
    """
    text = path.read_text(encoding="utf-8")
    doc = _yaml().load(text)
    if not isinstance(doc, CommentedMap):
        raise OpmlError("the config file is not a YAML mapping")
    lines = text.splitlines(keepends=True)
    existing = doc.get("feeds")
    if existing is None or (isinstance(existing, CommentedSeq) and not existing and "feeds" in doc):
        if "feeds" in doc:
            raise OpmlError("feeds is empty ([] or null): replace it with the printed feeds: block by hand")
        block = feeds_yaml(feeds)
        lines.append(("" if not lines or lines[-1].endswith("\n") else "\n") + "\n" + block)
    elif isinstance(existing, CommentedSeq):
        column = existing.lc.item(0)[1] - 2  # the "- " of the first entry
        keys = list(doc)
        after = keys[keys.index("feeds") + 1] if keys.index("feeds") + 1 < len(keys) else None
        stop = doc.lc.key(after)[0] if after is not None else len(lines)
        insert = stop
        while insert > 0 and (not lines[insert - 1].strip() or lines[insert - 1].lstrip().startswith("#")):
            insert -= 1
        if insert and not lines[insert - 1].endswith("\n"):
            lines[insert - 1] += "\n"
        entries = [" " * column + line.lstrip() for line in feeds_yaml(feeds).splitlines(keepends=True)[1:]]
        lines[insert:insert] = entries
    else:
        raise OpmlError("feeds is not a list")
    # Written whole to a temporary file, then renamed: an interrupted write never leaves half a config behind.
    temporary = path.with_name(f".{path.name}.opml-import")
    temporary.write_text("".join(lines), encoding="utf-8")
    temporary.replace(path)


def write_opml(feeds: list[FeedConfig], title: str = "Tripwire feeds") -> bytes:
    """An OPML 2.0 document of ``feeds``, grouped in one category outline per first label."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    groups: dict[str, ET.Element] = {}
    for feed in feeds:
        parent = body
        if feed.labels:
            label = feed.labels[0]
            if label not in groups:
                groups[label] = ET.SubElement(body, "outline", text=label, title=label)
            parent = groups[label]
        attrs = {"type": "rss", "text": feed.name or feed.url, "title": feed.name or feed.url, "xmlUrl": feed.url}
        if len(feed.labels) > 1:
            attrs["category"] = ",".join(feed.labels[1:])
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
