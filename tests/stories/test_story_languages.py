"""Stories across languages with the real models: one event told in en, ar, ru, tr and ku (Kurmanji) is one story;
two different events in two languages stay two. Texts written for this test (not from any news corpus)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from services.classifier.embedder import Embedder
from services.classifier.places import Gazetteer
from services.classifier.stories import StoryAssignment, StoryStore
from shared.config import TripwireConfig
from shared.schemas import FeedRef, Item
from shared.streams import StreamNames

pytestmark = [pytest.mark.model, pytest.mark.slow]
NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
TOPIC = "us_russia_standoff"

# One event: US armour blocks a Russian convoy near Derik; in the order outlets report it (Arabic first).
STANDOFF = [
    ("ar", "مواجهة بين رتل أمريكي ودورية روسية قرب ديريك. قطعت مدرعات أمريكية الطريق أمام رتل عسكري روسي قرب مدينة "
     "ديريك في ريف الحسكة، وبقيت القوتان متقابلتين ساعتين قبل أن يعود الرتل الروسي أدراجه."),
    ("en", "US and Russian convoys in stand-off near Derik. American armoured vehicles blocked a Russian military "
     "convoy on the road near Derik in Hasakah province, and the two forces faced each other for two hours before "
     "the Russian column turned back."),
    ("ru", "Противостояние американской и российской колонн у Дерика. Американские бронемашины перекрыли дорогу "
     "российской военной колонне возле Дерика в провинции Хасеке; две силы простояли друг против друга два часа, "
     "после чего российская колонна повернула назад."),
    ("tr", "Derik yakınlarında ABD ve Rus konvoyları karşı karşıya geldi. Amerikan zırhlı araçları Haseke'de Derik "
     "yakınlarında bir Rus askeri konvoyunun yolunu kesti; iki güç iki saat karşı karşıya kaldıktan sonra Rus "
     "konvoyu geri döndü."),
    ("ku", "Li nêzî Dêrikê konvoyên Amerîka û Rûsyayê rûbirûyî hev bûn. Wesayîtên zirxî yên Amerîkî li nêzî Dêrikê "
     "rêya konvoyeke leşkerî ya Rûsyayê girtin; her du hêz du saetan li hemberî hev man û paşê konvoya Rûsyayê "
     "vegeriya."),
]  # fmt: skip
# Another event of the same topic the same morning: a US drone and a Russian jet over al-Tanf.
OTHER = (
    "ru",
    "Российский истребитель опасно сблизился с американским беспилотником над Эт-Танфом. По данным Пентагона, "
    "самолёт несколько раз пересёк курс дрона над зоной деконфликтации у базы Эт-Танф.",
)


def item(n: int, language: str, text: str) -> Item:
    title, _, summary = text.partition(". ")
    feed = FeedRef(url=f"http://127.0.0.1/{language}-{n}.xml", title=f"{language} outlet")
    return Item(
        id=f"{language}-{n}", feed=feed, title=title, summary=summary, link=f"https://{language}.example/{n}",
        fetched_at=NOW, language=language,
    )  # fmt: skip


async def assign_all(
    store: StoryStore, gazetteer: Gazetteer, embedder: Embedder, reports: list[tuple[str, str]]
) -> list[StoryAssignment]:
    got = []
    for n, (language, text) in enumerate(reports):
        report = item(n, language, text)
        places = [place.name for place in gazetteer.find(TOPIC, report.text)]
        vector = embedder.encode([report.text])[0]
        got.append(await store.assign(TOPIC, report, vector, 0.7, NOW + timedelta(hours=n), places))
    return got


async def test_one_event_in_five_languages_is_one_story(
    redis: Redis, embedder: Embedder, multilingual_embedder: Embedder, default_config: TripwireConfig
):
    store = StoryStore(redis, StreamNames("t:"), default_config.stories, multilingual_embedder)
    got = await assign_all(store, Gazetteer(default_config.topics), embedder, STANDOFF)
    assert [a.event for a in got] == ["story.new"] + ["story.update"] * 4
    assert len({a.story_id for a in got}) == 1
    assert got[-1].sources == 5 and got[-1].reason == "places"  # Kurmanji: USE-m3 does not know it
    assert all(a.similarity is not None and a.similarity >= 0.6 for a in got[1:4])
    [story] = await store.recent()
    assert len(story.items) == 5


async def test_two_events_in_two_languages_stay_two_stories(
    redis: Redis, embedder: Embedder, multilingual_embedder: Embedder, default_config: TripwireConfig
):
    store = StoryStore(redis, StreamNames("t:"), default_config.stories, multilingual_embedder)
    first, other = await assign_all(store, Gazetteer(default_config.topics), embedder, [STANDOFF[1], OTHER])
    assert (first.event, other.event) == ("story.new", "story.new") and first.story_id != other.story_id


async def test_an_english_stream_never_embeds_in_the_multilingual_space(redis: Redis, embedder: Embedder):
    class Refusing:
        def encode(self, texts: list[str]):  # type: ignore[no-untyped-def]
            raise AssertionError(f"multilingual model asked for {texts}")

    config = TripwireConfig.model_validate({}).stories
    store = StoryStore(redis, StreamNames("t:"), config, Refusing())
    english = [
        STANDOFF[1],
        ("en", "Russian jet intercepts US drone over al-Tanf. The Pentagon said the jet came close."),
    ]
    got = await assign_all(store, Gazetteer({}), embedder, english)
    assert [a.event for a in got] == ["story.new", "story.new"]
