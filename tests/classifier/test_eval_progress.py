"""``tripwire eval`` shows a progress bar on stderr when it is a terminal, told after every read; none otherwise."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from services.classifier.batch_scoring import score_in_reads
from services.classifier.scoring import Scorer
from shared.config import Settings, TripwireConfig
from tests.classifier.test_evaluation import EVAL_SET
from tests.helpers import config_with
from tripwire import cli_classifier
from tripwire.cli import build_parser

pytestmark = [pytest.mark.model, pytest.mark.slow]
READ = 8  # items per read here, so the 161 items of the eval set take 21 reads


class Terminal(io.StringIO):
    """Captured text that says it is a terminal, as a user's stderr is."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def settings(default_config: TripwireConfig, embedder: object, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(cli_classifier, "load_scorer", lambda s: Scorer(s.config.topics, embedder))  # type: ignore[arg-type]
    classifier = {**default_config.classifier.model_dump(mode="python", by_alias=True), "read_count": READ}
    return Settings(config=config_with(default_config, classifier=classifier), config_path=Path("t.yaml"),
                    consumer_name="t")  # fmt: skip


async def _eval(settings: Settings) -> int:
    args = build_parser().parse_args(["eval", "--data", str(EVAL_SET)])
    return int(await args.handler(args, settings))


async def test_eval_draws_a_bar_on_a_terminal(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert await _eval(settings) == 0
    drawn = terminal.getvalue()
    assert "eval:" in drawn and "/161" in drawn and "items" in drawn
    assert "eval:" not in capsys.readouterr().out  # the report on stdout stays clean


async def test_eval_draws_no_bar_when_stderr_is_not_a_terminal(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _eval(settings) == 0
    captured = capsys.readouterr()
    assert "eval:" not in captured.err and "any topic" in captured.out


def test_progress_is_told_after_every_read(embedder: object, default_config: TripwireConfig) -> None:
    told: list[int] = []
    scorer = Scorer(default_config.topics, embedder)  # type: ignore[arg-type]
    texts = [f"Police patrol the town centre, night {n}" for n in range(2 * READ + 3)]
    scores = score_in_reads(scorer, texts, READ, told.append)
    assert told == [READ, READ, 3] and len(scores) == len(texts)
