"""``tripwire feeds``: the state of each configured feed, as a table or JSON; ``feeds add`` finds a site's feeds from
its page and adds one; ``feeds check`` says what each feed answers and what to do about a failure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.config import NetworkSettings, PollerSettings, load_config_file
from shared.http import make_http_client
from shared.language import detect_language
from shared.redis_server import RedisServer
from tests.helpers import rss
from tests.poller.support import DripServer, poller_config, running_poller, story
from tests.test_cli import tripwire
from tripwire.cli import main as tripwire_main
from tripwire.feed_discovery import discover_feeds
from tripwire.local_http import LocalServer, ReceivedRequest, Reply, Responder, static_files


async def test_feeds_lists_state_as_table_and_json(redis, redis_server: RedisServer, default_config, tmp_path: Path):
    files = {"/ok": rss([story(1), story(2)])}
    responder = static_files(files)
    with LocalServer(lambda r: responder(r) if r.path == "/ok" else Reply(500, b"")) as server:
        config = poller_config(default_config, [f"{server.url}/ok", f"{server.url}/broken"])
        async with running_poller(config, redis) as poller:
            await poller.poll_all()
    config_file = tmp_path / "tripwire.yaml"
    config_file.write_text(
        f"network: {{allow_private: [127.0.0.0/8]}}\nfeeds:\n  - {{url: '{server.url}/ok', name: Good}}\n"
        f"  - {{url: '{server.url}/broken'}}\n  - {{url: 'http://127.0.0.1:9/never'}}\n"
    )
    env = {"REDIS_URL": redis_server.url}
    table = tripwire("feeds", "--config", str(config_file), env=env)
    as_json = tripwire("feeds", "--json", "--config", str(config_file), env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["feed", "status", "last"]
    assert lines[1].startswith("Good") and " ok " in lines[1]
    assert "HTTP 500" in lines[2] and lines[3].split()[1] == "new"
    feeds = json.loads(as_json.stdout)["feeds"]
    assert [feed["status"] for feed in feeds] == ["ok", "error", "new"]
    assert feeds[0]["items_published"] == 2 and feeds[1]["consecutive_failures"] == 1
    assert "etag" not in feeds[0]


def test_feeds_without_redis_url_says_what_it_needs():
    result = tripwire("feeds")
    assert result.returncode == 2 and "needs REDIS_URL" in result.stderr


# ``tripwire feeds add`` and ``feeds check``: against pages and feeds served on 127.0.0.1 (allowed in the config).

HEADER = "# My config: this comment must survive.\nnetwork: {allow_private: [127.0.0.0/8]}\nfeeds:\n"


def page(*links: tuple[str, str]) -> bytes:
    """A site's front page naming ``links`` ((type, href)) in its head, and a link-like tag in its body."""
    tags = "".join(f'<link rel="alternate" type="{kind}" href="{href}">' for kind, href in links)
    return (
        f"<!doctype html><html><head><title>Site</title><link rel=stylesheet href=/s.css>{tags}</head>"
        '<body><link rel="alternate" type="application/rss+xml" href="/in-body.rss"><p>news</p></body></html>'
    ).encode()


def site(pages: dict[str, bytes]) -> Responder:
    """HTML for paths ending in / (or with a query), feeds for the rest; 404 for anything not listed."""

    def respond(request: ReceivedRequest) -> Reply:
        body = pages.get(request.path)
        if body is None:
            return Reply(404, b"not found")
        html = body.startswith(b"<!doctype html>")
        return Reply(200, body, {"Content-Type": "text/html; charset=utf-8" if html else "application/rss+xml"})

    return respond


def arabic_feed(title: str = "سانا - الأخبار") -> bytes:
    return rss([story(n) for n in range(3)], title=title).replace(b"<channel>", b"<channel><language>ar</language>")


def config_file(tmp_path: Path, entries: str = "  - {url: 'https://one.example/rss', name: One}\n") -> Path:
    path = tmp_path / "tripwire.yaml"
    path.write_text(HEADER + entries)
    return path


def test_add_finds_the_pages_feed_links_and_writes_the_chosen_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    pages = {"/": page(("application/rss+xml", "/ar/feed.xml"), ("application/atom+xml", "gone.atom")),
             "/ar/feed.xml": arabic_feed()}  # fmt: skip
    config = config_file(tmp_path)
    with LocalServer(site(pages)) as server:
        assert tripwire_main(["feeds", "add", f"{server.url}/", "--label", "Syria", "--config", str(config)]) == 0
        printed = capsys.readouterr()
        assert tripwire_main(["feeds", "add", f"{server.url}/", "--write", "--config", str(config)]) == 0
        paths = [request.path for request in server.requests]
    listing = printed.err
    assert " 1. ok         3 items  ar             سانا - الأخبار" in listing
    assert f"{server.url}/ar/feed.xml  (found by link)" in listing
    assert "FAILED  http_404" in listing and "what to do: no feed at this address" in listing
    entry = f'{{url: "{server.url}/ar/feed.xml", name: "سانا - الأخبار", language: "ar", labels: ["syria"]}}'
    assert printed.out == f"feeds:\n  - {entry}\n"
    # The body's link, and the common paths (the page named a working feed), were never asked for.
    assert "/in-body.rss" not in paths and "/feed" not in paths
    assert config.read_text().startswith(HEADER)
    feeds = load_config_file(config, {}).feeds
    assert [(feed.url, feed.name, feed.language) for feed in feeds[1:]] == [
        (f"{server.url}/ar/feed.xml", "سانا - الأخبار", "ar")
    ]


def test_add_tries_common_paths_when_the_page_names_no_feed(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # WordPress answers /?feed=rss2: the URL of issue 25's broken import, written through the same quoting.
    pages = {"/": page(), "/?feed=rss2": rss([story(1)], title="WordPress site")}
    config = config_file(tmp_path)
    with LocalServer(site(pages)) as server:
        assert tripwire_main(["feeds", "add", server.url, "--write", "--config", str(config)]) == 0
    assert f"{server.url}/?feed=rss2  (found by path)" in capsys.readouterr().err
    assert load_config_file(config, {}).feeds[-1].url == f"{server.url}/?feed=rss2"


def test_add_with_several_feeds_asks_for_pick(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    pages = {"/": page(("application/rss+xml", "/a.rss"), ("application/rss+xml", "/b.rss")),
             "/a.rss": rss([story(1)], title="A"), "/b.rss": rss([story(2)], title="B")}  # fmt: skip
    config = config_file(tmp_path)
    with LocalServer(site(pages)) as server:
        assert tripwire_main(["feeds", "add", f"{server.url}/", "--write", "--config", str(config)]) == 2
        assert "2 feeds found; choose one with --pick N (1 to 2)" in capsys.readouterr().err
        assert tripwire_main(["feeds", "add", f"{server.url}/", "--pick", "3", "--config", str(config)]) == 2
        assert tripwire_main(["feeds", "add", f"{server.url}/", "--pick", "2", "--write", "--config", str(config)]) == 0
        # A feed URL given directly is the feed; one already configured is not added twice.
        assert tripwire_main(["feeds", "add", f"{server.url}/b.rss", "--write", "--config", str(config)]) == 0
        assert "already in" in capsys.readouterr().err
    assert [feed.name for feed in load_config_file(config, {}).feeds] == ["One", "B"]


def test_add_never_writes_a_value_that_reads_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """Issue 26, item 1, for discovery: a page or feed is a stranger's text too."""
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/secret")
    pages = {"/": page(("application/rss+xml", "/rss?s=${SLACK_WEBHOOK_URL:-}")),
             "/rss?s=${SLACK_WEBHOOK_URL:-}": rss([story(1)]),
             "/titled": page(("application/rss+xml", "/t.rss")),
             "/t.rss": rss([story(1)], title="${SLACK_WEBHOOK_URL}")}  # fmt: skip
    config = config_file(tmp_path)
    before = config.read_text()
    with LocalServer(site(pages)) as server:
        for path in ("/", "/titled"):
            assert tripwire_main(["feeds", "add", server.url + path, "--write", "--config", str(config)]) == 2
            assert "contains ${, which the config loader would replace" in capsys.readouterr().err
    assert config.read_text() == before


def test_add_goes_through_the_outbound_guard_caps_and_deadline(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    config = tmp_path / "tripwire.yaml"
    config.write_text("feeds:\n  - {url: 'https://one.example/rss'}\n")  # no allow_private: loopback is refused
    with LocalServer(site({"/": page()})) as server:
        assert tripwire_main(["feeds", "add", server.url, "--config", str(config)]) == 2
        assert server.requests == []
    err = capsys.readouterr().err
    assert "FAILED  refused" in err and "add its network to network.allow_private" in err


async def test_discovery_reads_capped_under_a_total_deadline():
    network = NetworkSettings(allow_private=["127.0.0.0/8"])  # type: ignore[list-item]
    now = datetime.now(UTC)
    big = {"/": page(("application/rss+xml", "/big.rss")), "/big.rss": rss([story(n) for n in range(200)])}
    with LocalServer(site(big)) as server:
        async with make_http_client(network, timeout=5, user_agent="test") as http:
            found = await discover_feeds(http, f"{server.url}/", PollerSettings(max_body_bytes=20_000), now)
    assert found[0].reason == "too_large" and "poller.max_body_bytes" in (found[0].advice or "")
    with DripServer() as drip:
        async with make_http_client(network, timeout=5, user_agent="test") as http:
            found = await discover_feeds(http, f"{drip.url}/", PollerSettings(), now, deadline=0.5)
        assert [check.reason for check in found] == ["timeout"]
        # A page naming a good feed and one that never finishes: the deadline keeps the answer already in. (The
        # language model is loaded first: its one-time load, not the feed, would otherwise spend the deadline.)
        detect_language("warm up the language model")
        pages = {"/": page(("application/rss+xml", "/good.rss"), ("application/rss+xml", f"{drip.url}/slow.rss")),
                 "/good.rss": rss([story(1)], title="Good")}  # fmt: skip
        with LocalServer(site(pages)) as server:
            async with make_http_client(network, timeout=5, user_agent="test") as http:
                found = await discover_feeds(http, f"{server.url}/", PollerSettings(), now, deadline=3.0)
    assert [(check.title, check.reason) for check in found] == [("Good", None), (None, "timeout")]
    assert "longer than its 3 s deadline" in (found[1].error or "")


def test_check_says_what_each_feed_answers_and_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    pages = {"/ok.rss": arabic_feed(), "/page/": page()}
    with LocalServer(site(pages)) as server:
        config = tmp_path / "tripwire.yaml"
        config.write_text(
            "network: {allow_private: [127.0.0.1/32]}\nfeeds:\n"
            f"  - {{url: '{server.url}/ok.rss', name: Good}}\n  - {{url: '{server.url}/missing.rss'}}\n"
            f"  - {{url: '{server.url}/page/'}}\n  - {{url: 'http://127.0.0.2:9/elsewhere'}}\n"
        )
        assert tripwire_main(["feeds", "check", "--config", str(config)]) == 1
        out, err = capsys.readouterr()
        opml = tmp_path / "list.opml"
        opml.write_text(f'<opml version="2.0"><body><outline text="x" xmlUrl="{server.url}/ok.rss"/></body></opml>')
        assert tripwire_main(["feeds", "check", str(opml), "--config", str(config)]) == 0
        assert "ok         3 items  ar" in capsys.readouterr().out
    blocks = out.split("\n")
    assert blocks[0] == "ok         3 items  ar             Good  (feed title: سانا - الأخبار)"
    assert "FAILED  http_404: HTTP 404" in out and "find the current one with `tripwire feeds add SITE`" in out
    assert "FAILED  not_a_feed: an HTML page where a feed was expected" in out
    assert "FAILED  refused" in out and "network.allow_private" in out
    assert "1 of 4 feeds answered with a feed" in err
