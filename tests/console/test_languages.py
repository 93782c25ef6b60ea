"""The console in several languages: items and alerts filter by language and say it; Tune shows per-language figures."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from services.classifier.embedder import Embedder
from services.notifier.channel import Delivery
from services.notifier.slack_format import alert_message
from services.notifier.webhook import webhook_body
from shared.config import TripwireConfig
from shared.streams import StreamNames, publish
from tests.console.support import client_for, console_config, logged_in
from tests.notifier.support import make_alert, publish_messages

NAMES = StreamNames("tripwire:")
RUSSIAN = "Российский патруль перекрыл дорогу американской колонне у Дерика"
ARABIC = "دورية روسية تعترض رتلاً أمريكياً قرب ديريك"
ARABIC_SUMMARY = "قطعت مدرعات روسية الطريق أمام رتل أمريكي شمال المدينة."


async def _seed(redis: Redis) -> None:
    alerts = [
        make_alert(1, title=RUSSIAN, summary="", language="ru"),
        make_alert(2, title=ARABIC, summary=ARABIC_SUMMARY, language="ar"),
        make_alert(3, title="Convoys face off near Derik", language="en"),
        make_alert(4, title="An item from an older poller"),
    ]
    for alert in alerts:
        await publish(redis, NAMES.items, alert.item.to_json(), 100_000)
    await publish_messages(redis, *alerts)


async def test_items_and_alerts_filter_by_language_and_keep_the_original_text(
    default_config: TripwireConfig, redis: Redis
) -> None:
    await _seed(redis)
    async with client_for(console_config(default_config), redis) as client:
        await logged_in(client)
        every = (await client.get("/items")).text
        assert RUSSIAN in every and ARABIC in every and '<option value="ru"' in every and ">Russian<" in every
        russian = (await client.get("/items?lang=ru")).text
        assert RUSSIAN in russian and ARABIC not in russian and "Convoys face off" not in russian
        unknown = (await client.get("/items?lang=unknown")).text
        assert "An item from an older poller" in unknown and RUSSIAN not in unknown
        alerts = (await client.get("/alerts?lang=ar")).text
        assert ARABIC in alerts and RUSSIAN not in alerts and 'lang="ar"' in alerts
        assert f'dir="auto">{ARABIC_SUMMARY}' in alerts


def test_slack_and_webhooks_say_the_language_and_carry_the_original_text() -> None:
    alert = make_alert(1, title=ARABIC, summary="", language="ar")
    slack = json.dumps(alert_message(alert), ensure_ascii=False)
    assert ARABIC in slack and "in Arabic" in slack
    english = json.dumps(alert_message(make_alert(2, language="en")))
    assert "in English" not in english  # English needs no note
    body = json.loads(webhook_body(Delivery(id="d1", subscription="s", messages=(alert,))))
    assert body["data"]["item"]["language"] == "ar" and body["data"]["item"]["title"] == ARABIC


@pytest.mark.model
@pytest.mark.slow
async def test_tune_shows_figures_per_language(
    default_config: TripwireConfig, redis: Redis, embedder: Embedder
) -> None:
    lines = [
        {"title": RUSSIAN, "labels": ["us_russia_standoff"], "lang": "ru"},
        {"title": "В Москве открылась выставка цветов", "labels": [], "lang": "ru"},
        {"title": ARABIC, "labels": ["us_russia_standoff"], "lang": "ar"},
        {"title": "US and Russian patrols face off outside Derik", "labels": ["us_russia_standoff"], "lang": "en"},
    ]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    async with client_for(console_config(default_config), redis, embedder) as client:
        csrf = await logged_in(client)
        data = {"csrf": csrf, "topic": "us_russia_standoff", "threshold": "0.62"}
        page = await client.post("/tune/labeled", data=data, files={"file": ("langs.jsonl", body)})
        assert page.status_code == 200, page.text
        table = page.text[page.text.index('id="language-figures"') :]
        assert "<td>Russian</td>" in table and "<td>Arabic</td>" in table and "<td>English</td>" in table
        # Russian at its own threshold (0.62, as English's): one right, no false alarm, none missed.
        russian_row = table[table.index("<td>Russian</td>") :].split("</tr>")[0]
        assert "<td>1.000</td><td>1.000</td><td>1.000</td><td>1</td><td>0</td><td>0</td>" in russian_row
