"""tripwire score / eval / backtest, run as a user would, with the real model, Redis and a 127.0.0.1 server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from services.classifier.scoring import Scorer
from shared.config import Settings, TripwireConfig
from shared.redis_server import RedisServer
from shared.schemas import Alert, FeedRef, Item, Reasons
from shared.streams import DATA_FIELD, StreamNames
from tests.classifier.test_evaluation import EVAL_SET
from tests.helpers import config_with
from tests.test_cli import tripwire
from tripwire import cli_classifier
from tripwire.cli import build_parser
from tripwire.local_http import LocalServer, Reply, static_files

pytestmark = [pytest.mark.model, pytest.mark.slow]
ARTICLE = b"""<html><head><title>Russian jet intercepts US drone over Black Sea</title>
<meta name="description" content="A Russian Su-27 flew within metres of an American reconnaissance drone.">
<script>var ignored = "joint patrol";</script></head>
<body><nav><p>Menu: joint patrol archive</p></nav>
<p>The Pentagon called the intercept unsafe and unprofessional.</p></body></html>"""


@pytest.fixture
def settings(default_config: TripwireConfig, embedder: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(cli_classifier, "load_scorer", lambda s: Scorer(s.config.topics, embedder))  # type: ignore[arg-type]
    return Settings(config=config_with(default_config), config_path=Path("test.yaml"), consumer_name="t")


async def run(argv: list[str], settings: Settings) -> int:
    args = build_parser().parse_args(argv)
    return int(await args.handler(args, settings))


async def test_score_url_fetches_the_article_and_explains(settings: Settings, capsys: pytest.CaptureFixture[str]):
    with LocalServer(static_files({"/a.html": ARTICLE}, content_type="text/html")) as server:
        assert await run(["score", "--url", f"{server.url}/a.html"], settings) == 0
        assert [request.path for request in server.requests] == ["/a.html"]
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("us_russia_standoff: score") and line.endswith("-> ALERT") for line in lines)
    assert any(line.startswith("joint_patrol: score") and line.endswith("-> no alert") for line in lines)
    assert "nearest example" in out and "keywords: " in out


async def test_score_url_follows_a_redirect(settings: Settings, capsys: pytest.CaptureFixture[str]):
    def respond(request):  # type: ignore[no-untyped-def]
        if request.path == "/old":
            return Reply(301, headers={"Location": "/a.html"})
        return Reply(200, ARTICLE, {"Content-Type": "text/html"})

    with LocalServer(respond) as server:
        assert await run(["score", "--json", "--url", f"{server.url}/old"], settings) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["us_russia_standoff"]["matched"] is True
    assert document["joint_patrol"]["matched"] is False


async def test_score_title_and_summary(settings: Settings, capsys: pytest.CaptureFixture[str]):
    argv = ["score", "--title", "Police patrol town centre", "--summary", "Officers walked the streets at night."]
    assert await run(argv, settings) == 0
    out = capsys.readouterr().out
    assert out.count("-> no alert") == 2


async def test_eval_json_and_plot(settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    plot = tmp_path / "pr.png"
    argv = ["eval", "--data", str(EVAL_SET), "--json", "--plot", str(plot), "--min-precision", "0.95"]
    assert await run(argv, settings) == 0
    document = json.loads(capsys.readouterr().out)
    for name in ("us_russia_standoff", "joint_patrol"):
        entry = document["topics"][name]
        assert {"precision", "recall", "f1", "threshold", "tp", "fp", "fn", "tn"} <= set(entry)
        assert entry["at_min_precision"]["precision"] >= 0.95
    assert document["any"]["f1"] >= 0.9
    assert plot.read_bytes().startswith(b"\x89PNG")


async def test_backtest_reports_new_and_dropped_alerts(
    settings: Settings, redis_server: RedisServer, redis: Redis, capsys: pytest.CaptureFixture[str]
):
    names = StreamNames(settings.config.redis.stream_prefix)
    now = datetime.now(UTC)
    standoff = Item(
        id="s1",
        feed=FeedRef(url="http://127.0.0.1/f"),
        fetched_at=now,
        title="US and Russian convoys block each other near Derik",
        summary="American and Russian armored vehicles faced off on a road in north-east Syria.",
    )
    bakery = Item(id="b1", feed=FeedRef(url="http://127.0.0.1/f"), fetched_at=now, title="Bakery wins bread prize")
    sent = Alert(id="x", item=bakery, topic="joint_patrol", score=0.7, created_at=now,
                 reasons=Reasons(score=0.7, threshold=0.5))  # fmt: skip
    for one in (standoff, bakery):
        await redis.xadd(names.items, {DATA_FIELD: one.to_json()})
    await redis.xadd(names.alerts, {DATA_FIELD: sent.to_json()})
    with_redis = settings.model_copy(update={"redis_url": SecretStr(redis_server.url)})

    assert await run(["backtest", "--since", "7d"], with_redis) == 0
    out = capsys.readouterr().out
    assert "2 items since" in out
    assert "changed against alerts sent: 1 new, 1 no longer alerting" in out
    assert "+ us_russia_standoff" in out and "Derik" in out
    assert "- joint_patrol  was 0.700  Bakery wins bread prize" in out


def test_bad_data_and_bad_since_exit_2(tmp_path: Path):
    result = tripwire("eval", "--data", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2 and "missing.jsonl: cannot read the labeled set" in result.stderr
    assert "Traceback" not in result.stderr
    result = tripwire("score")
    assert result.returncode == 2 and "give exactly one of: a text, --title" in result.stderr
    result = tripwire("backtest", "--since", "soon")
    assert result.returncode == 2 and "--since: 'soon' is not a duration" in result.stderr
