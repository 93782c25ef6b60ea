"""`tripwire silence add|list|expire`, run as a user would (in process), and the silences' own rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.redis_server import RedisServer
from shared.silences import MAX_DURATION_SECONDS, Matcher, SilenceError, new_silence, parse_matchers
from tests.notifier.support import make_alert
from tripwire import cli

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_add_list_expire(
    redis_server: RedisServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    redis_server.client().flushdb()
    config = tmp_path / "tripwire.yaml"
    config.write_text("feeds: []\nsubscriptions:\n  - {name: desk, type: webhook, url: 'http://127.0.0.1:9/hook'}\n")
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    args = ["--config", str(config), "--log-level", "WARNING"]
    assert cli.main(["silence", "add", "story=s-derik", "subscription=desk", "--duration", "2d",
                     "--reason", "followed on the wire", "--by", "editor", *args]) == 0  # fmt: skip
    silence_id = capsys.readouterr().out.split()[1]
    assert cli.main(["silence", "list", *args]) == 0
    listing = capsys.readouterr().out
    assert f"{silence_id}  active" in listing and "story=s-derik subscription=desk" in listing
    assert "by editor: followed on the wire" in listing and "1 silence(s)" in listing
    assert cli.main(["silence", "expire", silence_id, *args]) == 0
    assert cli.main(["silence", "list", *args]) == 0
    assert "0 silence(s)" in capsys.readouterr().out
    assert cli.main(["silence", "list", "--all", *args]) == 0
    assert f"{silence_id}  expired" in capsys.readouterr().out
    # Mistakes are one line and exit code 2, each saying what to do.
    assert cli.main(["silence", "expire", "nope", *args]) == 2
    assert cli.main(["silence", "add", "colour=red", "--duration", "1h", "--reason", "x", *args]) == 2
    assert cli.main(["silence", "add", "story=t", "--duration", "200d", "--reason", "x", *args]) == 2
    # A misspelt subscription or topic would mute nothing and look as if it worked (the console refuses it too).
    assert cli.main(["silence", "add", "subscription=dsk", "--duration", "1h", "--reason", "x", *args]) == 2
    assert cli.main(["silence", "add", "topic=us_russia_stanoff", "--duration", "1h", "--reason", "x", *args]) == 2
    err = capsys.readouterr().err
    assert "no silence with id 'nope'" in err and "FIELD one of story, topic, feed, place, subscription" in err
    assert "at most 90 days" in err
    assert "no subscription 'dsk' (subscriptions: desk)" in err and "no topic 'us_russia_stanoff'" in err
    # A record this build cannot read (damaged, or written by a newer build) is one line too, not a traceback.
    redis_server.client().hset("tripwire:silences", "future1", '{"id": "future1", "matchers": [{"field": "colour"}]}')
    assert cli.main(["silence", "expire", "future1", *args]) == 2
    assert "silence 'future1' cannot be read by this build" in capsys.readouterr().err


def test_without_by_a_user_with_no_login_name_is_cli(monkeypatch: pytest.MonkeyPatch):
    # A container run under an arbitrary uid has no passwd entry: getpass.getuser() raises KeyError there.
    def no_passwd_entry() -> str:
        raise KeyError("getpwuid(): uid not found: 54321")

    monkeypatch.setattr("getpass.getuser", no_passwd_entry)
    from tripwire.cli_silence import _login_name

    assert _login_name() == "cli"


def test_every_matcher_must_hold_and_only_while_active():
    alert = make_alert(1).model_copy(update={"story_id": "s1"})
    silence = new_silence(parse_matchers(["story=s1", "topic=us_russia_standoff"]), 3600, "r", "me", T0)
    assert silence.matches(alert, "any", T0)
    assert not silence.matches(alert.model_copy(update={"topic": "joint_patrol"}), "any", T0)
    assert not silence.matches(alert, "any", T0 - timedelta(seconds=1)), "not before it starts"
    assert not silence.matches(alert, "any", T0 + timedelta(seconds=3600)), "not once it ends"
    feed = new_silence([Matcher(field="feed", value="example news")], 60, "r", "me", T0)
    assert feed.matches(alert, "any", T0), "a feed by its title, case-insensitive"
    assert new_silence([Matcher(field="feed", value=alert.item.feed.url)], 60, "r", "me", T0).matches(alert, "x", T0)


def test_a_silence_needs_matchers_a_reason_and_a_bounded_duration():
    with pytest.raises(SilenceError, match="at least one matcher"):
        new_silence([], 60, "r", "me", T0)
    with pytest.raises(SilenceError, match="needs a reason"):
        new_silence(parse_matchers(["topic=t"]), 60, "  ", "me", T0)
    # The documented limit (docs: Silences, "at most 90 days"), written here, not read from the code.
    new_silence(parse_matchers(["topic=t"]), 90 * 86400, "r", "me", T0)
    with pytest.raises(SilenceError, match="at most 90 days"):
        new_silence(parse_matchers(["topic=t"]), 90 * 86400 + 1, "r", "me", T0)
    assert MAX_DURATION_SECONDS == 90 * 86400
