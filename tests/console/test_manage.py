"""Manage from the console: feeds added from a site's page (discovery), enabled, disabled and removed;
subscriptions added, edited, removed, tested; every change written to the YAML file with its comments kept,
validated before it replaces the file, and announced to the services; refused in one line otherwise."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from redis.asyncio import Redis

from shared.config import TripwireConfig, load_config_file
from shared.config_reload import reload_key
from shared.streams import StreamNames
from tests.conftest import REPO_ROOT
from tests.console.support import PASSWORD, logged_in
from tests.helpers import rss
from tests.notifier.support import FakeClock
from tests.poller.support import story
from tripwire.console.app import create_app
from tripwire.local_http import LocalServer, Reply

NAMES = StreamNames("tripwire:")
TOPIC = "us_russia_standoff"
COMMENT = "# Our newsroom's feeds: keep this comment\n"


def write_config(path: Path, **sections: Any) -> Path:
    """The shipped config with a console password and loopback allowed, plus a comment that must survive edits."""
    doc = yaml.safe_load((REPO_ROOT / "config" / "tripwire.yaml").read_text(encoding="utf-8"))
    doc["network"] = {"allow_private": ["127.0.0.0/8"]}
    doc["console"] = {**(doc.get("console") or {}), "password": PASSWORD, "session_secret": "s" * 32}
    doc.update(sections)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    path.write_text(text.replace("feeds:\n", "feeds:\n" + COMMENT, 1), encoding="utf-8")
    return path


def client(path: Path | None, redis: Redis, config: TripwireConfig | None = None) -> httpx.AsyncClient:
    config = config or load_config_file(path)  # type: ignore[arg-type]
    app = create_app(config, redis, FakeClock(), "test-session-secret-" + "x" * 16, lambda: None, config_path=path)  # type: ignore[arg-type,return-value]
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:9110"
    )  # an allowed Host (the console refuses others)


async def generation(redis: Redis) -> int:
    return int(await redis.get(reload_key(NAMES)) or 0)


async def test_without_a_password_the_page_says_how_to_enable_it(redis: Redis, default_config: TripwireConfig):
    async with client(None, redis, default_config) as http:
        page = await http.get("/manage")
    assert 'id="manage-disabled"' in page.text and "console.password" in page.text
    assert "feed-discover" not in page.text


async def test_add_a_feed_from_a_sites_page_then_disable_and_remove_it(redis: Redis, tmp_path: Path):
    feed = rss([story(1)], title="Derik Daily")
    page = (
        b'<html><head><link rel="alternate" type="application/rss+xml" href="/news.rss"></head><body>news</body></html>'
    )

    def site(request):  # type: ignore[no-untyped-def]
        return (
            Reply(200, feed, {"Content-Type": "application/rss+xml"})
            if request.path == "/news.rss"
            else Reply(200, page, {"Content-Type": "text/html"})
        )

    path = write_config(tmp_path / "tripwire.yaml")
    with LocalServer(site) as server:
        async with client(path, redis) as http:
            csrf = await logged_in(http)
            found = await http.post("/manage/feeds/discover", data={"csrf": csrf, "site": f"{server.url}/"})
            assert found.status_code == 200 and f"{server.url}/news.rss" in found.text and "Derik Daily" in found.text
            before = await generation(redis)
            added = await http.post(
                "/manage/feeds/add",
                data={"csrf": csrf, "url": f"{server.url}/news.rss", "name": "Derik Daily", "language": ""},
            )
            assert added.status_code == 303, added.text
            assert await generation(redis) == before + 1  # the services were asked to reload
            assert f"{server.url}/news.rss" in [f.url for f in load_config_file(path).feeds]
            assert COMMENT in path.read_text(encoding="utf-8")

            url = f"{server.url}/news.rss"
            assert (
                await http.post("/manage/feeds/state", data={"csrf": csrf, "url": url, "action": "disable"})
            ).status_code == 303
            assert [f.enabled for f in load_config_file(path).feeds if f.url == url] == [False]
            assert (
                await http.post("/manage/feeds/state", data={"csrf": csrf, "url": url, "action": "remove"})
            ).status_code == 303
            assert url not in [f.url for f in load_config_file(path).feeds]
    assert COMMENT in path.read_text(encoding="utf-8")


async def test_add_edit_test_and_remove_a_subscription(redis: Redis, tmp_path: Path):
    path = write_config(tmp_path / "tripwire.yaml")
    with LocalServer(lambda _r: Reply(204)) as receiver:
        async with client(path, redis) as http:
            csrf = await logged_in(http)
            form = {"csrf": csrf, "original": "", "name": "desk", "type": "webhook", "url": f"{receiver.url}/desk",
                    "topics": [TOPIC], "min_score": ""}  # fmt: skip
            assert (await http.post("/manage/subscriptions/save", data=form)).status_code == 303
            [desk] = [s for s in load_config_file(path).subscriptions if s.name == "desk"]
            assert desk.topics == [TOPIC] and desk.url.get_secret_value() == f"{receiver.url}/desk"

            sent = await http.post("/manage/subscriptions/test", data={"csrf": csrf, "name": "desk"})
            assert sent.status_code == 303 and "Test+alert+delivered+to+desk" in sent.headers["location"]
            assert [r.path for r in receiver.requests] == ["/desk"]
            assert b"Tripwire test alert" in receiver.requests[0].body

            edit = {**form, "original": "desk", "url": "", "min_score": "0.7"}
            assert (await http.post("/manage/subscriptions/save", data=edit)).status_code == 303
            [desk] = [s for s in load_config_file(path).subscriptions if s.name == "desk"]
            assert desk.min_score == 0.7 and desk.url.get_secret_value() == f"{receiver.url}/desk"  # URL kept

            removed = await http.post(
                "/manage/subscriptions/state", data={"csrf": csrf, "name": "desk", "action": "remove"}
            )
            assert removed.status_code == 303
    assert "desk" not in [s.name for s in load_config_file(path).subscriptions]
    assert COMMENT in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [("name", "bad name", "name"), ("type", "pigeon", "type"), ("min_score", "2", "min_score"), ("url", "", "url")],
)
async def test_a_bad_subscription_is_refused_in_one_line_and_the_file_kept(
    redis: Redis, tmp_path: Path, field: str, value: str, error: str
):
    path = write_config(tmp_path / "tripwire.yaml")
    before = path.read_bytes()
    async with client(path, redis) as http:
        csrf = await logged_in(http)
        form = {"csrf": csrf, "original": "", "name": "desk", "type": "webhook", "url": "https://hooks.example/x",
                "topics": [TOPIC], "min_score": "", field: value}  # fmt: skip
        response = await http.post("/manage/subscriptions/save", data=form)
    assert response.status_code == 400
    message = re.search(r'id="manage-error">(.*?)</p>', response.text, re.S)
    assert message is not None and "\n" not in message.group(1) and error in message.group(1), response.text
    assert path.read_bytes() == before
    assert await generation(redis) == 0


async def test_changes_need_the_forms_csrf_token(redis: Redis, tmp_path: Path):
    path = write_config(tmp_path / "tripwire.yaml")
    before = path.read_bytes()
    async with client(path, redis) as http:
        await logged_in(http)
        response = await http.post(
            "/manage/subscriptions/state", data={"csrf": "forged", "name": "x", "action": "remove"}
        )
    assert response.status_code == 403 and path.read_bytes() == before
