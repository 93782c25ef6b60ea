"""Config loading: expansion, validation messages naming file, field and value, secrets never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import ConfigError, load_config_file, load_settings, parse_config

MINIMAL = """
topics:
  t1:
    examples: ["an example"]
subscriptions:
  - name: s1
    type: webhook
    url: ${HOOK_URL}
    secret: ${HOOK_SECRET:-}
    topics: [t1]
"""


def test_env_expansion_and_defaults():
    config = parse_config(MINIMAL, "x.yaml", {"HOOK_URL": "https://hooks.example/abc"})
    sub = config.subscriptions[0]
    assert sub.url.get_secret_value() == "https://hooks.example/abc"
    assert sub.secret is not None and sub.secret.get_secret_value() == ""


def test_missing_variable_names_file_field_and_variable():
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL, "x.yaml", {})
    assert str(err.value).startswith("x.yaml: subscriptions[0].url: environment variable HOOK_URL is not set")


def test_bad_value_names_file_field_and_value():
    text = MINIMAL.replace("topics: [t1]", "topics: [t1]\n    min_score: 1.5")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "x.yaml", {"HOOK_URL": "https://hooks.example/u"})
    assert "x.yaml: subscriptions[0].min_score: 1.5 is not valid" in str(err.value)


def test_unknown_topic_and_unknown_field():
    with pytest.raises(ConfigError, match="unknown topic"):
        parse_config(
            MINIMAL.replace("topics: [t1]", "topics: [nope]"), "x.yaml", {"HOOK_URL": "https://hooks.example/u"}
        )
    with pytest.raises(ConfigError, match=r"feeds\[0\]\.urll: unknown field"):
        parse_config("feeds:\n  - urll: http://a/\n", "x.yaml", {})


def test_secret_values_are_never_echoed():
    text = MINIMAL.replace("type: webhook", "type: pigeon")
    secret_url = "https://hooks.slack.com/services/T000/B000/SECRETSECRET"
    with pytest.raises(ConfigError) as err:
        parse_config(text.replace("${HOOK_URL}", secret_url), "x.yaml", {})
    assert "SECRETSECRET" not in str(err.value)
    bad_url = MINIMAL.replace("url: ${HOOK_URL}", "url: [1, 2]")
    with pytest.raises(ConfigError) as err2:
        parse_config(bad_url, "x.yaml", {})
    assert "value hidden" in str(err2.value)
    config = parse_config(MINIMAL, "x.yaml", {"HOOK_URL": secret_url})
    assert "SECRETSECRET" not in repr(config) and "SECRETSECRET" not in str(config.model_dump())


def test_invalid_yaml_and_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"not valid YAML at line 2"):
        parse_config("a: 1\n  b: [", "x.yaml", {})
    with pytest.raises(ConfigError, match="config file not found"):
        load_config_file(tmp_path / "none.yaml", {})


def test_settings_read_redis_url_and_config_path(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("feeds: []\n")
    settings = load_settings(None, {"TRIPWIRE_CONFIG": str(path), "REDIS_URL": "redis://:Hunter2Pass@127.0.0.1:1/0"})
    assert settings.config_path == path
    assert settings.redis_url is not None and "Hunter2Pass" not in repr(settings)


def test_shipped_config_loads_with_empty_environment(default_config):
    assert set(default_config.topics) == {"us_russia_standoff", "joint_patrol"}
    assert default_config.feeds and all(not sub.has_url for sub in default_config.subscriptions)


def test_console_keys_are_hidden_in_errors_and_blank_ones_are_unset():
    with pytest.raises(ConfigError) as err:
        parse_config("console:\n  session_secret: 918273645\n  vote_secret: [564738291]\n", "x.yaml", {})
    assert "value hidden" in str(err.value) and "918273645" not in str(err.value) and "564738291" not in str(err.value)
    text = "console:\n  password: ${P:-}\n  session_secret: ${S:-}\n  vote_secret: '  '\n"
    console = parse_config(text, "x.yaml", {"P": ""}).console
    # An empty password would let anyone in with an empty form: empty means "not set".
    assert console.password is None and console.session_secret is None and console.vote_secret is None
    assert parse_config(text, "x.yaml", {"P": "pw-1"}).console.password is not None


def _console(lines: str, environ: dict[str, str] | None = None) -> str:
    """The error (or "ok: <url>") of a config whose console section is ``lines``."""
    try:
        config = parse_config("console:\n" + lines, "x.yaml", environ or {})
    except ConfigError as exc:
        return str(exc)
    return f"ok: {config.console.url}"


def test_console_url_is_a_public_http_base_url_and_needs_the_vote_secret():
    secret = "  vote_secret: ${TRIPWIRE_VOTE_SECRET}\n"
    env = {"TRIPWIRE_VOTE_SECRET": "v" * 32}
    assert _console("  url: https://tripwire.example.com/console/\n" + secret, env) == (
        "ok: https://tripwire.example.com/console"
    )
    assert _console("  url: ${TRIPWIRE_CONSOLE_URL:-}\n") == "ok: None"  # empty: no vote links, no secret needed
    assert _console("  vote_secret: " + "x" * 16 + "\n") == "ok: None"
    for url, problem in (
        ("tripwire.example.com", "must be an http:// or https:// URL with a host"),
        ("ftp://tripwire.example.com", "must be an http:// or https:// URL with a host"),
        ("https://", "must be an http:// or https:// URL with a host"),
        ("https://tripwire.example.com:port", "is not a URL"),
        ("https://me:pw@tripwire.example.com", "must not contain a user name or password"),
        ("https://tripwire.example.com/?a=1", "must not have a query or fragment"),
    ):
        error = _console(f"  url: '{url}'\n" + secret, env)
        assert error.startswith("x.yaml: console.url: ") and problem in error, error
        # Public by design (every alert carries it), so the value is shown; unless it holds a password.
        assert ("value hidden" in error) == ("pw@" in url) and "me:pw" not in error
    missing = _console("  url: https://tripwire.example.com\n")
    assert "console.url is set but console.vote_secret is not" in missing
    assert "${TRIPWIRE_VOTE_SECRET}" in missing and "remove console.url" in missing


def test_signing_keys_must_be_long_enough_and_the_error_hides_them():
    for field in ("vote_secret", "session_secret"):
        error = _console(f"  {field}: short-key-123\n")
        assert f"console.{field}: value hidden (secret): " in error and "short-key-123" not in error
        assert "at least 16 characters" in error and "secrets.token_urlsafe(32)" in error


def test_errors_on_any_secret_field_hide_the_value():
    for field in ("vote_secret", "session_secret", "password"):
        error = _console(f"  {field}: 8675309123\n")  # a number where a string belongs
        assert f"console.{field}: value hidden (secret)" in error and "8675309123" not in error
