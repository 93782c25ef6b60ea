"""Silences from the console: the page lists, sets (CSRF, validation) and expires them; the alert and story pages
show silenced deliveries as silenced; a signed "mute this story" link confirms on GET and mutes only on POST."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis

from shared.config import TripwireConfig
from shared.mute_links import MuteClaim, sign_mute
from shared.silences import Matcher, SilenceStore, new_silence
from shared.streams import StreamNames
from shared.votes import VoteClaim, sign_vote
from tests.console.support import client_for, console_config, logged_in
from tests.notifier.support import FakeClock, make_alert, make_notifier, notifier_config, publish_messages, sub
from tripwire.local_http import LocalServer, Reply

NAMES = StreamNames("tripwire:")
VOTE_SECRET = "vote-secret-for-tests-0123456789"
TOPIC = "us_russia_standoff"


def _story_alert(n: int, story: str, update: bool):  # type: ignore[no-untyped-def]
    alert = make_alert(n)
    return alert.model_copy(update={"story_id": story, "event": "story.update" if update else "story.new"})


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_the_page_sets_lists_and_expires_a_silence(redis: Redis, default_config: TripwireConfig):
    clock = FakeClock()
    async with client_for(console_config(default_config), redis, clock=clock) as client:
        csrf = await logged_in(client)
        form = await client.get("/silences?story=derik-1")
        assert "story=derik-1</textarea>" in form.text  # "Mute this story" fills the form in
        response = await client.post(
            "/silences",
            data={
                "csrf": csrf,
                "matchers": "story=derik-1\nsubscription=analysts",
                "duration": "3h",
                "reason": "on the wire",
            },
        )
        assert response.status_code == 303
        page = await client.get(response.headers["location"])
        live = re.search(r'<section class="card" id="silences-live">.*?</section>', page.text, re.S)
        assert live is not None
        row = _text(live.group(0))
        assert "active" in row and "story=derik-1" in row and "subscription=analysts" in row
        assert "ends in 3 h" in row and "console" in row and "on the wire" in row
        assert re.search(r'<time datetime="[^"]+" title="[^"]+ UTC">in 3 h</time>', live.group(0))
        [silence] = await SilenceStore(redis, NAMES).all(clock.now())
        assert silence.describe() == "story=derik-1 subscription=analysts" and silence.created_by == "console"

        expired = await client.post("/silences/expire", data={"csrf": csrf, "id": silence.id})
        assert expired.status_code == 303
        page = await client.get("/silences")
    assert silence.id not in re.search(r'id="silences-live">.*?</section>', page.text, re.S).group(0)  # type: ignore[union-attr]
    gone = re.search(r'id="silences-expired">.*?</section>', page.text, re.S).group(0)  # type: ignore[union-attr]
    assert silence.id in gone and "expired" in gone
    assert [s.state(clock.now()) for s in await SilenceStore(redis, NAMES).all(clock.now())] == ["expired"]


@pytest.mark.parametrize(
    ("matchers", "duration", "reason", "error"),
    [
        ("storyderik", "1h", "x", "write FIELD=VALUE"),
        ("", "1h", "x", "at least one matcher"),
        ("topic=no_such_topic", "1h", "x", "no topic 'no_such_topic'"),
        ("subscription=nobody", "1h", "x", "no subscription 'nobody'"),
        ("story=s1", "soon", "x", "is not a duration"),
        ("story=s1", "200d", "x", "at most 90 days"),
        ("story=s1", "1h", "  ", "needs a reason"),
    ],
)
async def test_a_bad_silence_is_refused_with_one_line_and_the_form_kept(
    redis: Redis, default_config: TripwireConfig, matchers: str, duration: str, reason: str, error: str
):
    async with client_for(console_config(default_config), redis) as client:
        csrf = await logged_in(client)
        data = {"csrf": csrf, "matchers": matchers, "duration": duration, "reason": reason}
        response = await client.post("/silences", data=data)
    assert response.status_code == 400
    message = re.search(r'id="silence-error">(.*?)</p>', response.text)
    assert message is not None and error in message.group(1).replace("&#39;", "'"), response.text
    assert f'value="{duration}"' in response.text
    assert await SilenceStore(redis, NAMES).all(FakeClock().now()) == []


async def test_setting_or_expiring_needs_the_forms_csrf_token(redis: Redis, default_config: TripwireConfig):
    async with client_for(console_config(default_config), redis) as client:
        await logged_in(client)
        data = {"csrf": "forged", "matchers": "story=s1", "duration": "1h", "reason": "x"}
        assert (await client.post("/silences", data=data)).status_code == 403
    assert await SilenceStore(redis, NAMES).all(FakeClock().now()) == []


async def test_silenced_alerts_show_as_silenced_on_the_alert_and_story_pages(
    redis: Redis, http: httpx.AsyncClient, default_config: TripwireConfig
):
    with LocalServer(lambda _r: Reply(204)) as receiver:
        hook = sub("analysts", f"{receiver.url}/hook", topics=[TOPIC], updates="each")
        config = notifier_config(console_config(default_config), [hook])
        clock = FakeClock()
        await publish_messages(redis, _story_alert(1, "derik", update=False))
        await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)
        silence = new_silence([Matcher(field="story", value="derik")], 3600, "followed", "editor", clock.now())
        await SilenceStore(redis, NAMES).add(silence)
        await publish_messages(redis, _story_alert(2, "derik", update=True))
        await make_notifier(config, redis, http, clock).run(asyncio.Event(), drain=True)
        assert len(receiver.requests) == 1  # the follow-up was not delivered
    async with client_for(config, redis, clock=clock) as client:
        await logged_in(client)
        alerts = (await client.get("/alerts")).text
        story = (await client.get("/stories/derik")).text
        silences = (await client.get("/silences")).text
    # Never hidden: the follow-up is listed, its delivery marked silenced with the silence that matched.
    assert "alert-2-us_russia_standoff" in alerts
    assert re.search(
        r'status-silenced">silenced</span></td>\s*<td></td><td class="reason">silence ' + silence.id, alerts
    )
    assert 'class="mute">Mute this story</a>' in alerts and 'href="/silences?story=derik"' in alerts
    assert story.count('class="silenced-badge">silenced</span> analysts') == 1
    assert 'id="mute-story"' in story
    assert "alert-2-us_russia_standoff" in re.search(r'id="silenced-alerts">.*?</section>', silences, re.S).group(0)  # type: ignore[union-attr]


async def test_a_mute_link_confirms_on_get_and_mutes_only_on_post(redis: Redis, default_config: TripwireConfig):
    clock = FakeClock()
    config = console_config(default_config, vote_secret=VOTE_SECRET)
    token = sign_mute(VOTE_SECRET.encode(), MuteClaim("derik", 86400, int(clock.now().timestamp()) + 3600))
    async with client_for(config, redis, clock=clock) as client:  # not logged in: the signature is the credential
        for agent in ("Mozilla/5.0 (X11; Linux x86_64) Chrome/120", "Slackbot-LinkExpanding 1.0", ""):
            page = await client.get(f"/mute/link?t={token}", headers={"user-agent": agent})
            assert page.status_code == 200 and 'id="mute-confirm"' in page.text and "for 24 h" in page.text
        assert (await client.head(f"/mute/link?t={token}")).status_code == 200
        assert await SilenceStore(redis, NAMES).all(clock.now()) == []  # nobody clicked the button yet

        done = await client.post("/mute/link", data={"t": token, "reason": ""})
        assert done.status_code == 200 and 'id="mute-done"' in done.text
    [silence] = await SilenceStore(redis, NAMES).active(clock.now())
    assert silence.describe() == "story=derik" and silence.created_by == "link"
    assert silence.reason == "muted from the alert's link"
    assert silence.ends_at - silence.starts_at == timedelta(days=1)
    assert done.headers["referrer-policy"] == "no-referrer" and done.headers["cache-control"] == "no-store"


async def test_a_mute_link_mutes_its_own_subscription_once(redis: Redis, default_config: TripwireConfig):
    # A link reaches whoever reads the channel (a webhook receiver may be a third party): it mutes the story for the
    # subscription it was delivered to, and sets its silence once, so a silence an operator ended early stays ended.
    clock = FakeClock()
    config = console_config(default_config, vote_secret=VOTE_SECRET)
    token = sign_mute(VOTE_SECRET.encode(), MuteClaim("derik", 86400, int(clock.now().timestamp()) + 7 * 86400, "desk"))
    store = SilenceStore(redis, NAMES)
    async with client_for(config, redis, clock=clock) as client:
        page = await client.get(f"/mute/link?t={token}")
        assert "for <code>desk</code>" in page.text and "other subscriptions are not affected" in page.text
        for _ in range(3):
            done = await client.post("/mute/link", data={"t": token, "reason": ""})
            assert done.status_code == 200 and 'id="mute-done"' in done.text
        [silence] = await store.active(clock.now())
        assert silence.describe() == "story=derik subscription=desk"
        story_alert = make_alert(1).model_copy(update={"story_id": "derik"})
        now = clock.now()
        assert silence.matches(story_alert, "desk", now) and not silence.matches(story_alert, "other", now)
        await store.expire(silence.id, clock.now())
        clock.advance(3 * 86400)
        again = await client.post("/mute/link", data={"t": token, "reason": ""})
        assert again.status_code == 200 and 'id="mute-ended"' in again.text
    assert await store.active(clock.now()) == []
    assert len(await store.all(clock.now())) == 1


async def test_forged_expired_and_vote_tokens_mute_nothing(redis: Redis, default_config: TripwireConfig):
    clock = FakeClock()
    later = int(clock.now().timestamp()) + 3600
    forged = sign_mute(b"not-the-server-secret", MuteClaim("derik", 86400, later))
    expired = sign_mute(VOTE_SECRET.encode(), MuteClaim("derik", 86400, int(clock.now().timestamp()) - 1))
    vote = sign_vote(VOTE_SECRET.encode(), VoteClaim("alert-1", TOPIC, "relevant", later))
    async with client_for(console_config(default_config, vote_secret=VOTE_SECRET), redis, clock=clock) as client:
        for token, why in ((forged, "signature"), (expired, "expired"), (vote, "signature"), ("junk", "malformed")):
            response = await client.post("/mute/link", data={"t": token})
            assert response.status_code == 403 and "Nothing muted: " in response.text and why in response.text
    async with client_for(console_config(default_config), redis, clock=clock) as client:  # no vote secret
        assert (await client.get(f"/mute/link?t={forged}")).status_code == 404
    assert await SilenceStore(redis, NAMES).all(clock.now()) == []
