"""Changes to the config file from the console: each written keeping the file's comments and layout (the changed
entries spliced into the file's text, config_text.py), validated by loading the new file through the normal loader
before it replaces the old one, then announced to the running services (shared/config_reload.py).

A change that would not load is refused with the loader's one-line error and the file is left as it was; so is a
change to a file that was edited by hand since the page was drawn in a way that makes the change meaningless (an
entry that is gone). Written whole to a temporary file beside it and renamed, so nothing ever reads half a file.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from shared.config import ConfigError, TripwireConfig, load_config_file
from tripwire.console.config_text import spliced


class ConfigEditError(ConfigError):
    """The change was not made and the config file is as it was; the message says why, in one line."""


def _yaml() -> YAML:
    yaml = YAML()  # round trip: comments, order, quotes and flow style survive
    yaml.preserve_quotes = True
    yaml.width = 1_000_000
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def quoted(value: str) -> DoubleQuotedScalarString:
    """A string written double-quoted: the loader reads YAML 1.1, where a plain ``no`` or ``on`` is a boolean."""
    text: DoubleQuotedScalarString = DoubleQuotedScalarString(value)
    return text


def edit_config(path: Path, change: Callable[[CommentedMap], None]) -> TripwireConfig:
    """Apply ``change`` to the file's document, check the result loads, replace the file; the new config."""
    shown, target = path, path.resolve()  # a symlinked config (a mounted volume) keeps its link
    yaml = _yaml()
    text = target.read_text(encoding="utf-8")
    doc, original = yaml.load(text), yaml.load(text)
    if not isinstance(doc, CommentedMap):
        raise ConfigEditError(f"{shown}: the config file is not a YAML mapping")
    change(doc)
    # The changed list entries spliced into the file's own text (config_text.py says why); a change of another kind
    # is written as the whole round-trip dump.
    new_text = spliced(text, original, doc, yaml)
    if new_text is None:
        out = io.StringIO()
        yaml.dump(doc, out)
        new_text = out.getvalue()
    temporary = target.with_name(f".{target.name}.console-edit")
    try:
        temporary.write_text(new_text, encoding="utf-8")
        shutil.copymode(target, temporary)
        try:
            config = load_config_file(temporary)
        except ConfigError as exc:
            message = " ".join(str(exc).replace(str(temporary), str(shown)).split())
            raise ConfigEditError(f"refused, the config file is unchanged: {message}") from None
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return config


def entries(doc: CommentedMap, section: str) -> CommentedSeq:
    """The list under ``section`` (created, block style, when missing)."""
    found = doc.get(section)
    if found is None:
        found = CommentedSeq()
        doc[section] = found
    if not isinstance(found, CommentedSeq):
        raise ConfigEditError(f"{section} is not a list in the config file")
    return found


def find(seq: CommentedSeq, key: str, value: str) -> int:
    """The index of the entry whose ``key`` is ``value``; ConfigEditError when there is none."""
    for index, entry in enumerate(seq):
        if isinstance(entry, dict) and str(entry.get(key)) == value:
            return index
    raise ConfigEditError(f"no entry with {key} {value!r} in the config file (edited by hand meanwhile?)")


def set_enabled(entry: Any, enabled: bool) -> None:
    """``enabled: false`` written, or removed again (true is the default)."""
    if enabled:
        entry.pop("enabled", None)
    else:
        entry["enabled"] = False
