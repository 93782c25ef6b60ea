"""``tripwire feeds``: the state of each configured feed, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

from shared.redis_server import RedisServer
from tests.helpers import rss
from tests.poller.support import poller_config, running_poller, story
from tests.test_cli import tripwire
from tripwire.local_http import LocalServer, Reply, static_files


async def test_feeds_lists_state_as_table_and_json(redis, redis_server: RedisServer, default_config, tmp_path: Path):
    files = {"/ok": rss([story(1), story(2)])}
    responder = static_files(files)
    with LocalServer(lambda r: responder(r) if r.path == "/ok" else Reply(500, b"")) as server:
        config = poller_config(default_config, [f"{server.url}/ok", f"{server.url}/broken"])
        async with running_poller(config, redis) as poller:
            await poller.poll_all()
    config_file = tmp_path / "tripwire.yaml"
    config_file.write_text(
        # stale_after 0: the poller ran on a pinned clock, the command judges staleness by today's date
        "network: {allow_private: [127.0.0.0/8]}\npoller: {stale_after: 0}\n"
        f"feeds:\n  - {{url: '{server.url}/ok', name: Good}}\n"
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
    assert "failing (1 in a row)" in lines[2], "failing from the first failed poll, its count beside it"
    feeds = json.loads(as_json.stdout)["feeds"]
    assert [feed["status"] for feed in feeds] == ["ok", "failing", "new"]
    assert feeds[0]["items_published"] == 2 and feeds[1]["consecutive_failures"] == 1
    assert "etag" not in feeds[0]


def test_feeds_without_redis_url_says_what_it_needs():
    result = tripwire("feeds")
    assert result.returncode == 2 and "needs REDIS_URL" in result.stderr
