"""OPML: a 50-feed file imports (nested categories as labels, duplicates skipped), hostile XML is refused, --write
keeps the config file's comments, and export round-trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import FeedConfig, load_config_file
from tests.conftest import REPO_ROOT
from tripwire.cli import main as tripwire_main
from tripwire.opml import OpmlError, read_opml, write_opml

SHIPPED = REPO_ROOT / "config" / "tripwire.yaml"
SECRETS = {
    "TRIPWIRE_CONSOLE_PASSWORD": "console-password-1",
    "TRIPWIRE_CONSOLE_SECRET": "a-session-signing-key-0123456789",
}


def fifty_feeds() -> bytes:
    """An OPML file as a reader exports it: 50 feeds in nested categories, two duplicates, one bad URL."""
    regions = [("Middle East", "Syria"), ("Middle East", "Turkey"), ("Europe", "Russia"), ("Wires", None)]
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head><title>reader</title></head><body>']
    n = 0
    for top, sub in regions:
        parts.append(f'<outline text="{top}">' + (f'<outline text="{sub}">' if sub else ""))
        for _ in range(13 if sub else 11):
            n += 1
            parts.append(f'<outline type="rss" text="Outlet &amp; {n}" xmlUrl="https://news{n}.example/rss"/>')
        parts.append("</outline>" + ("</outline>" if sub else ""))
    parts.append('<outline text="dup" xmlUrl="https://news1.example/rss/"/>')  # the same feed, written differently
    parts.append('<outline text="bbc" xmlUrl="https://feeds.bbci.co.uk/news/world/middle_east/rss.xml"/>')  # in config
    parts.append('<outline text="bad" xmlUrl="file:///etc/passwd"/>')
    parts.append("</body></opml>")
    assert n == 50
    return "\n".join(parts).encode()


def test_fifty_feeds_import_with_their_categories_as_labels():
    existing = load_config_file(SHIPPED, SECRETS).feeds
    result = read_opml(fifty_feeds(), list(existing))
    assert len(result.feeds) == 50
    assert result.feeds[0] == FeedConfig(
        url="https://news1.example/rss", name="Outlet & 1", labels=["Middle East/Syria"]
    )
    assert result.feeds[-1].labels == ["Wires"]
    assert [why for _url, why in result.skipped] == ["already listed", "already listed", "not an http(s) feed URL"]


HOSTILE = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
    b"<opml><body><outline text='&lol2;' xmlUrl='https://x.example/rss'/></body></opml>",
    "external entity": b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<opml><body><outline text='&xxe;' xmlUrl='https://x.example/rss'/></body></opml>",
    "doctype": b'<!DOCTYPE opml SYSTEM "http://127.0.0.1:9/opml.dtd"><opml><body/></opml>',
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_xml_is_refused(name: str):
    with pytest.raises(OpmlError, match="unsafe XML"):
        read_opml(HOSTILE[name])


DEEP = b"<opml><body>" + b"<outline>" * 5000 + b"</outline>" * 5000 + b"</body></opml>"


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"<opml><body>", "not well-formed"), (b"<rss/>", "not an OPML"), (DEEP, "nested more than")],
)
def test_broken_files_say_what_is_wrong(data: bytes, message: str):
    with pytest.raises(OpmlError, match=message):
        read_opml(data)


def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets the shipped config names."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def test_import_prints_yaml_and_write_adds_it_keeping_comments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    env(monkeypatch)
    config, opml = tmp_path / "tripwire.yaml", tmp_path / "reader.opml"
    config.write_text(SHIPPED.read_text())
    opml.write_bytes(fifty_feeds())
    assert tripwire_main(["feeds", "import", str(opml), "--config", str(config)]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("feeds:\n  - {url: https://news1.example/rss, name: Outlet & 1, labels: [")
    assert "skipped file:///etc/passwd: not an http(s) feed URL" in printed.err
    assert config.read_text() == SHIPPED.read_text()  # printing changes nothing
    assert tripwire_main(["feeds", "import", str(opml), "--write", "--config", str(config)]) == 0
    before, after = SHIPPED.read_text().splitlines(), config.read_text().splitlines()
    assert [line for line in after if line not in before] == printed.out.splitlines()[1:]  # only the new feeds added
    assert [line for line in before if line not in after] == []  # every comment and line kept
    feeds = load_config_file(config, SECRETS).feeds
    assert len(feeds) == 8 + 50
    # A second import finds nothing new.
    assert tripwire_main(["feeds", "import", str(opml), "--write", "--config", str(config)]) == 0
    assert "no new feeds" in capsys.readouterr().err


def test_export_round_trips_through_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    env(monkeypatch)
    feeds = read_opml(fifty_feeds()).feeds
    again = read_opml(write_opml(feeds)).feeds
    assert again == feeds
    out = tmp_path / "out.opml"
    assert tripwire_main(["feeds", "export", str(out), "--config", str(SHIPPED)]) == 0
    assert len(read_opml(out.read_bytes()).feeds) == 8
