"""OPML: a 50-feed file imports (nested categories as labels, duplicates skipped), hostile XML is refused, --write
keeps the config file's comments, and export round-trips.
Then: --write keeps the config loadable for any URL or title, an outline can never read the environment (issue 26),
labels are slugs matched without case, and import -> export -> import is stable (with a hypothesis property)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.config import FeedConfig, SubscriptionConfig, load_config_file, parse_config
from shared.config.expand import ImportedReference, expand_string, literal
from tests.conftest import REPO_ROOT
from tripwire.cli import main as tripwire_main
from tripwire.feed_entries import feeds_yaml
from tripwire.opml import OpmlError, label_path, read_opml, write_opml

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
        url="https://news1.example/rss", name="Outlet & 1", labels=["middle-east", "syria"]
    )
    assert result.feeds[-1].labels == ["wires"]
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
    assert printed.out.startswith('feeds:\n  - {url: "https://news1.example/rss", name: "Outlet & 1", labels: [')
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


# Issue 25, reproduction 4: a WordPress feed URL made the config unreadable. Each of these once broke a hand-formatted
# or YAML 1.2 entry read back by the YAML 1.1 loader ("no" is false, "?" ends a plain flow scalar).
AWKWARD = [
    ("https://sana.sy/en/?feed=rss2", "SANA"),
    ("https://x.example/rss?a=1&b=2#top", "A & B: news"),
    ("https://x.example/a:b/rss?k=v:w&q='1'", "Quotes \"double\" and 'single'"),
    ("https://x.example/?q=%22x%22&p=$HOME&r=$$", "Price $5, $$ and # hash"),
    ("https://ar.example/أخبار/feed?lang=ar", "سانا: الأخبار"),
    ("https://ru.example/rss?ключ=значение", "no"),
    ("https://x.example/[rss]{1},2", "- starts like a list, ends like: a key:"),
]


def awkward_opml() -> bytes:
    root = ET.Element("opml", version="2.0")
    body = ET.SubElement(root, "body")
    group = ET.SubElement(ET.SubElement(body, "outline", text="Middle East"), "outline", text="Syria")
    for url, name in AWKWARD:
        ET.SubElement(group, "outline", type="rss", text=name, xmlUrl=url, language="AR")
    return ET.tostring(root, encoding="utf-8")


def test_write_keeps_the_config_valid_for_any_url_and_title(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    env(monkeypatch)
    monkeypatch.setenv("HOME", "/home/operator")
    config, opml = tmp_path / "tripwire.yaml", tmp_path / "list.opml"
    config.write_text(SHIPPED.read_text())
    opml.write_bytes(awkward_opml())
    assert tripwire_main(["feeds", "import", str(opml), "--write", "--config", str(config)]) == 0
    assert f"added {len(AWKWARD)} feeds" in capsys.readouterr().err
    feeds = load_config_file(config, {**SECRETS, "HOME": "/home/operator"}).feeds[8:]
    assert [(feed.url, feed.name) for feed in feeds] == AWKWARD  # byte for byte: nothing expanded, nothing lost
    assert {tuple(feed.labels) for feed in feeds} == {("middle-east", "syria")}
    assert {feed.language for feed in feeds} == {"ar"}
    # And the services' next command starts: the issue's "every later command fails" is gone.
    assert tripwire_main(["feeds", "export", str(tmp_path / "out.opml"), "--config", str(config)]) == 0


def test_write_refuses_a_config_that_would_not_load_and_leaves_it_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    env(monkeypatch)
    config, opml = tmp_path / "tripwire.yaml", tmp_path / "list.opml"
    # A YAML document end marker after the feeds: text appended after it starts a second document, which the loader
    # refuses. Whatever the cause, the check after writing catches it.
    original = "feeds:\n  - {url: 'https://one.example/rss'}\n...\n"
    config.write_text(original)
    opml.write_bytes(awkward_opml())
    assert tripwire_main(["feeds", "import", str(opml), "--write", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "with the new feeds the config would not load, so it was left unchanged" in err
    assert config.read_text() == original
    assert sorted(path.name for path in tmp_path.iterdir()) == ["list.opml", "tripwire.yaml"]  # no temporary file


# Issue 26, item 1: an outline that names an environment variable got it expanded by the next config load, and the
# poller sent the operator's Slack URL and console password to the outline's host on every poll.
LEAKING = (
    b'<opml version="2.0"><body>'
    b'<outline text="Innocent" xmlUrl="https://feeds.example.net/rss?s=${SLACK_WEBHOOK_URL:-}&amp;p='
    b'${TRIPWIRE_CONSOLE_PASSWORD:-}"/>'
    b'<outline text="${REDIS_URL}" xmlUrl="https://titles.example.net/rss"/>'
    b'<outline text="Fine" xmlUrl="https://fine.example.net/rss?price=$5"/>'
    b"</body></opml>"
)


def test_an_outline_can_never_read_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    env(monkeypatch)
    secrets = {
        **SECRETS,
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/secret",
        "REDIS_URL": "redis://:pw@r",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    config, opml = tmp_path / "tripwire.yaml", tmp_path / "list.opml"
    config.write_text(SHIPPED.read_text())
    opml.write_bytes(LEAKING)
    assert tripwire_main(["feeds", "import", str(opml), "--write", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "outline 'Innocent' refused: its xmlUrl or title contains ${" in err
    assert "outline '${REDIS_URL}' refused" in err
    assert "added 1 feeds" in err
    feeds = load_config_file(config, secrets).feeds
    assert feeds[-1].url == "https://fine.example.net/rss?price=$5"
    loaded = " ".join(f"{feed.url} {feed.name}" for feed in feeds)
    for value in secrets.values():
        assert value not in loaded and value not in config.read_text()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_a_literal_reads_back_unchanged_and_never_expands(text: str):
    """shared/config/expand.literal, the one gate every imported value goes through."""
    if "${" in text:
        with pytest.raises(ImportedReference):
            literal(text)
    else:
        assert expand_string(literal(text), {"HOME": "/home/operator", "X": "secret"}) == text


def test_labels_are_slugs_per_level_and_subscriptions_match_them_without_case():
    assert label_path("Middle East/Syria") == ["middle-east", "syria"]
    assert label_path("/Kurdish (Sorani)/ Rojava_News ") == ["kurdish-sorani", "rojava-news"]
    assert label_path("Sûriye / سوريا") == ["sûriye", "سوريا"]
    feeds = read_opml(
        b'<opml><body><outline text="Middle East"><outline text="Syria">'
        b'<outline text="f" xmlUrl="https://f.example/rss" category="/Wires/AP,Agencies"/></outline></outline>'
        b"</body></opml>"
    ).feeds
    assert feeds[0].labels == ["middle-east", "syria", "wires", "ap", "agencies"]
    readme = SubscriptionConfig(name="syria", type="webhook", url="https://hooks.example/x", feed_labels=["Syria"])
    assert readme.takes_feed(feeds[0].labels) and readme.takes_feed(["SYRIA"]) and not readme.takes_feed(["iraq"])


def test_export_keeps_the_hierarchy_and_a_round_trip_is_stable():
    first = read_opml(fifty_feeds()).feeds
    document = ET.fromstring(write_opml(first))  # noqa: S314 - our own output
    middle_east = document.find("body/outline[@text='middle-east']")
    assert middle_east is not None
    assert [o.get("text") for o in middle_east.findall("outline")] == ["syria", "turkey"]
    assert len(middle_east.findall("outline[@text='syria']/outline")) == 13
    second = read_opml(write_opml(first)).feeds
    assert second == first
    assert write_opml(second) == write_opml(first)


# Text from any reader: names with markup-like and YAML-like characters, categories in any case, URLs with the
# characters YAML and XML treat specially, and non-ASCII.
_WORDS = st.text(alphabet=st.sampled_from("aZ éسж?#:&'\"<>/$%{}[],-_ 0.\t"), min_size=0, max_size=14)
_URLS = st.builds(
    lambda host, path: f"https://{host}.example/{path}",
    st.text(alphabet="abcxyz0", min_size=1, max_size=6),
    st.text(alphabet=st.sampled_from("aé/?#:&=%'\"$[]{},;ж-~"), max_size=20),
)
_OUTLINES = st.lists(
    st.tuples(_URLS, _WORDS, st.lists(_WORDS, max_size=3), st.sampled_from(["", "ar", "KU", "ru-RU", "x"])),
    max_size=8,
)


def _opml(outlines: list[tuple[str, str, list[str], str]]) -> bytes:
    root = ET.Element("opml", version="2.0")
    body = ET.SubElement(root, "body")
    for url, name, path, language in outlines:
        parent = body
        for level in path:
            parent = ET.SubElement(parent, "outline", text=level)
        ET.SubElement(parent, "outline", text=name, xmlUrl=url, language=language)
    return ET.tostring(root, encoding="utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_OUTLINES)
def test_round_trip_and_yaml_hold_for_any_outline(outlines: list[tuple[str, str, list[str], str]]):
    first = read_opml(_opml(outlines))
    again = read_opml(write_opml(first.feeds))
    assert again.feeds == first.feeds and not again.skipped
    assert read_opml(write_opml(again.feeds)).feeds == again.feeds
    if first.feeds:
        # The YAML written for them loads through the real loader to exactly the same feeds.
        config = parse_config(feeds_yaml(first.feeds), "feeds.yaml", {"HOME": "/x", "SLACK_WEBHOOK_URL": "secret"})
        assert config.feeds == first.feeds
        assert yaml.safe_load(feeds_yaml(first.feeds))["feeds"]


STARTER = REPO_ROOT / "config" / "feeds" / "syria-flashpoint.opml"


def test_the_starter_list_imports_with_one_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """config/feeds/syria-flashpoint.opml: off by default, one command adds it, each outlet has a language and label."""
    env(monkeypatch)
    text = STARTER.read_text(encoding="utf-8")
    assert "Compiled 2026-12-04" in text and "NOT ONE URL" in text and "tripwire feeds check" in text
    assert str(STARTER.relative_to(REPO_ROOT)) not in SHIPPED.read_text()  # off by default
    config = tmp_path / "tripwire.yaml"
    config.write_text(SHIPPED.read_text())
    assert tripwire_main(["feeds", "import", str(STARTER), "--write", "--config", str(config)]) == 0
    assert "(0 skipped)" in capsys.readouterr().err
    feeds = load_config_file(config, SECRETS).feeds[8:]
    assert len(feeds) >= 40
    assert {feed.language for feed in feeds} == {"ar", "ku", "ru", "tr", "en"}
    kinds = {"agencies", "local", "monitors", "international"}
    assert all(feed.labels[0] == "syria-flashpoint" and feed.labels[1] in kinds for feed in feeds)
    kurdish = " ".join(feed.name or "" for feed in feeds if feed.language == "ku")
    assert "Sorani" in kurdish and "Kurmanji" in kurdish
    names = " ".join(feed.name or "" for feed in feeds)
    for outlet in ("SANA", "Hawar", "Rudaw", "Kurdistan24", "North Press", "Enab Baladi", "TASS", "RIA", "Interfax",
                   "Anadolu", "Daily Sabah", "SOHR"):  # fmt: skip
        assert outlet in names, outlet


def test_export_never_writes_a_secret_the_config_reads_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("WIRE_KEY", "wire-secret-key")
    config, out = tmp_path / "tripwire.yaml", tmp_path / "out.opml"
    config.write_text(
        "feeds:\n  - {url: 'https://wire.example/rss?key=${WIRE_KEY}', name: Wire}\n"
        "  - {url: 'https://plain.example/rss?p=$$5', name: Plain}\n"
    )
    assert tripwire_main(["feeds", "export", str(out), "--config", str(config)]) == 0
    assert "feed 'Wire': url uses ${...}: exported as written, unexpanded" in capsys.readouterr().err
    document = out.read_text()
    assert "wire-secret-key" not in document
    assert 'xmlUrl="https://wire.example/rss?key=${WIRE_KEY}"' in document
    assert 'xmlUrl="https://plain.example/rss?p=$5"' in document


_FRAGMENTS = st.sampled_from([
    "<opml>", "</opml>", "<body>", "</body>", "<outline ", "/>", ">", "</outline>", 'xmlUrl="https://a.example/r"',
    'text="x"', 'category="a/b,c"', 'language="ar"', "<!DOCTYPE x>", '<!ENTITY e "e">', "&e;", "&amp;", "${X}", "\x00",
    "é", '"', "'", "<", "]]>", "<![CDATA[", "-->", "<!--",
])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.lists(_FRAGMENTS, max_size=30).map(lambda parts: "".join(parts).encode())))
def test_the_reader_refuses_garbage_with_opml_error_only(data: bytes):
    """Fuzz: whatever the bytes, read_opml returns feeds or raises OpmlError (one line for the CLI), nothing else."""
    try:
        result = read_opml(data)
    except OpmlError:
        return
    assert all("${" not in feed.url and "${" not in (feed.name or "") for feed in result.feeds)


def test_write_through_a_symlink_changes_the_target_and_keeps_the_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    env(monkeypatch)
    target, link, opml = tmp_path / "real.yaml", tmp_path / "tripwire.yaml", tmp_path / "list.opml"
    target.write_text("feeds:\n  - {url: 'https://one.example/rss'}\n")
    target.chmod(0o640)
    link.symlink_to(target)
    opml.write_bytes(awkward_opml())
    assert tripwire_main(["feeds", "import", str(opml), "--write", "--config", str(link)]) == 0
    assert link.is_symlink() and oct(target.stat().st_mode & 0o777) == "0o640"
    assert len(load_config_file(link, {}).feeds) == 1 + len(AWKWARD)


def test_export_to_a_path_that_cannot_be_written_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    target = tmp_path / "missing-folder" / "feeds.opml"
    assert tripwire_main(["feeds", "export", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the OPML file" in err[0] and "Traceback" not in err[0], err
