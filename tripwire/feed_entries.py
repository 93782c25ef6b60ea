"""Writing ``feeds:`` entries into a config file: for OPML import and ``feeds add``, whose values come from strangers.

Three rules, each learnt the hard way (issues 25 and 26):

- ruamel.yaml writes YAML 1.2 and the config loader reads YAML 1.1 (PyYAML), which ends a plain scalar in a flow
  mapping at ``?`` and reads ``no`` as false: every string is written double-quoted, escaped by ruamel.yaml.
- The loader expands ``${VAR}`` in every string: every value goes through shared/config/expand.literal, which refuses
  ``${`` and doubles any other ``$``, so imported text can never read the environment.
- After the new file is written (to a temporary file), it is loaded through the normal loader and the new feeds are
  compared with what was meant; if it does not load or reads back differently, the config file is left untouched.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from shared.config import ConfigError, FeedConfig, load_config_file
from shared.config.expand import ImportedReference, literal


class ConfigWriteError(Exception):
    """The feeds could not be added to the config file, which was left as it was; the message says why."""


def _quoted(value: str) -> DoubleQuotedScalarString:
    quoted: DoubleQuotedScalarString = DoubleQuotedScalarString(literal(value))
    return quoted


def _entry(feed: FeedConfig) -> CommentedMap:
    entry = CommentedMap(url=_quoted(feed.url))
    if feed.name:
        entry["name"] = _quoted(feed.name)
    if feed.language:
        entry["language"] = _quoted(feed.language)
    if feed.labels:
        labels = CommentedSeq(_quoted(label) for label in feed.labels)
        labels.fa.set_flow_style()
        entry["labels"] = labels
    entry.fa.set_flow_style()  # one line per feed, like the shipped config
    return entry


def _yaml() -> YAML:
    yaml = YAML()  # round trip: comments, order, quotes and flow style survive
    yaml.preserve_quotes = True
    yaml.width = 1_000_000  # one line per feed, however long its URL
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def feeds_yaml(feeds: list[FeedConfig]) -> str:
    """The ``feeds:`` block to paste into a config file."""
    stream = io.StringIO()
    try:
        _yaml().dump({"feeds": CommentedSeq(_entry(feed) for feed in feeds)}, stream)
    except ImportedReference as exc:
        raise ConfigWriteError(f"refused: {exc}") from None
    return stream.getvalue()


def add_to_config(path: Path, feeds: list[FeedConfig]) -> None:
    """Append ``feeds`` to the config file's ``feeds:`` list, keeping every other byte of the file as it was.

    A round-trip YAML dump would keep comments but re-flow long flow lists elsewhere in the file, so the new entries
    are inserted as text: after the last line of the existing ``feeds:`` block, at its indentation (or as a new block
    at the end). ruamel.yaml only locates the block and formats the entries.
    """
    shown, path = path, path.resolve()  # a symlinked config (a mounted volume) keeps its link; the target changes
    text = path.read_text(encoding="utf-8")
    new_text = _with_feeds(text, feeds)
    # Written whole to a temporary file beside it, checked, then renamed: an interrupted write never leaves half a
    # config behind, and a file the services could not load never replaces a good one.
    temporary = path.with_name(f".{path.name}.adding-feeds")
    try:
        temporary.write_text(new_text, encoding="utf-8")
        shutil.copymode(path, temporary)
        _check(temporary, shown, feeds)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def _with_feeds(text: str, feeds: list[FeedConfig]) -> str:
    doc = _yaml().load(text)
    if not isinstance(doc, CommentedMap):
        raise ConfigWriteError("the config file is not a YAML mapping")
    lines = text.splitlines(keepends=True)
    existing = doc.get("feeds")
    block = feeds_yaml(feeds)
    if "feeds" not in doc:
        lines.append(("" if not lines or lines[-1].endswith("\n") else "\n") + "\n" + block)
    elif not isinstance(existing, CommentedSeq):
        raise ConfigWriteError("feeds is not a list")
    elif not existing or existing.fa.flow_style():
        raise ConfigWriteError("feeds is empty or written as [...]: replace it with the printed feeds: block by hand")
    else:
        column = existing.lc.item(0)[1] - 2  # the "- " of the first entry
        keys = list(doc)
        after = keys[keys.index("feeds") + 1] if keys.index("feeds") + 1 < len(keys) else None
        stop = doc.lc.key(after)[0] if after is not None else len(lines)
        insert = stop
        while insert > 0 and (not lines[insert - 1].strip() or lines[insert - 1].lstrip().startswith("#")):
            insert -= 1
        if insert and not lines[insert - 1].endswith("\n"):
            lines[insert - 1] += "\n"
        lines[insert:insert] = [" " * column + line.lstrip() for line in block.splitlines(keepends=True)[1:]]
    return "".join(lines)


def _check(written: Path, path: Path, feeds: list[FeedConfig]) -> None:
    """Load ``written`` as every service will, and compare its last feeds with ``feeds``; raise if anything differs."""
    try:
        loaded = load_config_file(written).feeds
    except ConfigError as exc:
        message = str(exc).replace(str(written), str(path))
        raise ConfigWriteError(
            f"with the new feeds the config would not load, so it was left unchanged: {message}"
        ) from None
    if len(loaded) < len(feeds):
        raise ConfigWriteError("the new feeds did not read back from the file, so the config was left unchanged")
    fields = ("url", "name", "labels", "language")
    for meant, got in zip(feeds, loaded[len(loaded) - len(feeds) :], strict=True):
        for name in fields:
            if getattr(meant, name) != getattr(got, name):
                # The value read back is not quoted: it may be an expanded secret.
                raise ConfigWriteError(
                    f"the feed {meant.url[:200]} read back with a different {name}, so the config was left unchanged"
                )
