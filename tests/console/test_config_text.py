"""Console edits of the shipped config change only the lines of the entries they change (docs/guide/console-actions.md:
"comments, order and layout are kept"). A whole round-trip dump re-flowed the topics' multi-line keyword lists onto
one line, dropped the comments inside them, and lost the comment above ``console:`` with the last subscription."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from tests.conftest import REPO_ROOT
from tripwire.console.config_edit import edit_config, entries, find, quoted, set_enabled

SHIPPED = REPO_ROOT / "config" / "tripwire.yaml"


def edited(tmp_path: Path, change) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    path = tmp_path / "tripwire.yaml"
    shutil.copy(SHIPPED, path)
    before = path.read_text(encoding="utf-8").splitlines()
    edit_config(path, change)
    return before, path.read_text(encoding="utf-8").splitlines()


def changes(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    """(lines removed, lines added)."""
    diff = list(difflib.unified_diff(before, after, lineterm="", n=0))
    removed = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def test_disabling_a_feed_changes_its_line_only(tmp_path: Path) -> None:
    def change(doc: CommentedMap) -> None:
        feeds = entries(doc, "feeds")
        set_enabled(feeds[0], False)

    removed, added = changes(*edited(tmp_path, change))
    assert len(removed) == 1 and len(added) == 1
    assert added[0] == removed[0].replace('"}', '", enabled: false}')


def test_removing_the_last_subscription_keeps_the_comments_around_it(tmp_path: Path) -> None:
    def change(doc: CommentedMap) -> None:
        subs = entries(doc, "subscriptions")
        del subs[find(subs, "name", "analysts-webhook")]

    before, after = edited(tmp_path, change)
    removed, added = changes(before, after)
    assert added == [] and removed[0] == "  - name: analysts-webhook" and len(removed) == 6
    assert not any(line.lstrip().startswith("#") for line in removed)
    assert [line for line in before if "#" in line] == [line for line in after if "#" in line]


def test_adding_and_editing_subscriptions_touch_only_those_entries(tmp_path: Path) -> None:
    def change(doc: CommentedMap) -> None:
        subs = entries(doc, "subscriptions")
        subs[find(subs, "name", "newsroom-slack")]["min_score"] = 0.7
        new = CommentedMap()
        new["name"], new["type"], new["url"] = quoted("desk"), quoted("webhook"), quoted("http://127.0.0.1:9/hook")
        subs.append(new)

    before, after = edited(tmp_path, change)
    removed, added = changes(before, after)
    assert removed == []
    assert added == [
        "    min_score: 0.7",
        '  - name: "desk"',
        '    type: "webhook"',
        '    url: "http://127.0.0.1:9/hook"',
    ]
    assert [line for line in before if "#" in line] == [line for line in after if "#" in line]
