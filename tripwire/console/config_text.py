"""A changed config document written back into the file's own text, so an edit from the console keeps every byte it
did not change.

A whole ruamel.yaml round-trip dump keeps most comments but not all: it re-flows multi-line flow lists (the topics'
keyword lists) onto one line and drops the comments inside them, and a comment that leads into the next section is
attached to the last entry before it, so removing that entry removed the comment. The console only changes the
entries of top-level lists (``feeds``, ``subscriptions``), so only those are written anew: an entry that did not
change keeps its lines (and the comments between it and the next entry), a changed or new one is dumped alone at the
list's indentation, a removed one loses its lines. Everything else in the file is the original text.

``None`` when the change is of another kind (a section added or removed, a list written as ``[...]``, a change
outside a list): the caller then writes the whole dump, the only way to write such a change at all.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq


def spliced(text: str, original: CommentedMap, changed: CommentedMap, yaml: YAML) -> str | None:
    """``text`` (which ``original`` was loaded from) with the list entries that differ in ``changed`` rewritten."""
    if list(original) != list(changed):
        return None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    keys = list(original)
    # Bottom-up, so the line numbers of the sections above stay right.
    for position in reversed(range(len(keys))):
        key = keys[position]
        before, after = original[key], changed[key]
        if _plain(before) == _plain(after):
            continue
        if not (_block_list(before) and isinstance(after, CommentedSeq)):
            return None
        stop = original.lc.key(keys[position + 1])[0] if position + 1 < len(keys) else len(lines)
        lines = _with_entries(lines, before, after, _content_end(lines, stop), yaml)
    return "".join(lines)


def _with_entries(lines: list[str], before: CommentedSeq, after: CommentedSeq, end: int, yaml: YAML) -> list[str]:
    starts = [before.lc.item(index)[0] for index in range(len(before))]
    spans = list(zip(starts, [*starts[1:], end], strict=True))
    by_line = {start: index for index, start in enumerate(starts)}
    column = max(0, before.lc.item(0)[1] - 2)  # the "- " of the first entry
    flow = isinstance(before[0], CommentedMap) and before[0].fa.flow_style()
    written: list[str] = []
    for entry in after:
        index = by_line.get(_line_of(entry)) if _line_of(entry) is not None else None
        if index is not None and _plain(entry) == _plain(before[index]):
            first, last = spans[index]
            written += lines[first:last]  # unchanged: its own lines, comments after it included
            continue
        if index is None and flow and isinstance(entry, CommentedMap):
            entry.fa.set_flow_style()  # a new entry written like the ones already there
        written += _dumped(entry, column, yaml)
        if index is not None:
            first, last = spans[index]
            written += _trailing_comments(lines[first:last])
    return lines[: starts[0]] + written + lines[end:]


def _dumped(entry: Any, column: int, yaml: YAML) -> list[str]:
    out = io.StringIO()
    yaml.dump([entry], out)
    dumped = out.getvalue().splitlines(keepends=True)
    shift = column - (len(dumped[0]) - len(dumped[0].lstrip()))  # the dump's own "- " column moved to the list's
    if shift >= 0:
        return [" " * shift + line if line.strip() else line for line in dumped]
    return [line[-shift:] if line[:-shift].isspace() else line for line in dumped]


def _trailing_comments(span: list[str]) -> list[str]:
    """The comment and blank lines at the end of an entry's span (they lead into the next entry)."""
    start = len(span)
    while start > 1 and (not span[start - 1].strip() or span[start - 1].lstrip().startswith("#")):
        start -= 1
    return span[start:]


def _content_end(lines: list[str], stop: int) -> int:
    """Where a section's entries end: before the blank and comment lines that lead into the next section."""
    end = stop
    while end > 0 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def _block_list(value: Any) -> bool:
    return isinstance(value, CommentedSeq) and len(value) > 0 and not value.fa.flow_style()


def _line_of(entry: Any) -> int | None:
    line = getattr(getattr(entry, "lc", None), "line", None)
    return line if isinstance(line, int) else None


def _plain(value: Any) -> Any:
    """The data of a ruamel.yaml node, without its comments and style: what "changed" compares."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
