"""Every channel URL is checked at config load (issue 26, item 11): scheme, host, port range, in one line that names
the field and shows the URL without its credentials."""

from __future__ import annotations

import json

import pytest

from shared.config import ConfigError, TripwireConfig, parse_config

PASSWORD = "pa55-Wd-k3pt-0ut"
WEBHOOK_SECRET = "B0123/XsecretX"


def load(subscription: dict[str, object] | None = None, **notifier: str) -> TripwireConfig:
    doc: dict[str, object] = {"notifier": notifier}
    if subscription is not None:
        doc["subscriptions"] = [{"name": "s", **subscription}]
    return parse_config(json.dumps(doc), "tripwire.yaml", {})


def error_of(subscription: dict[str, object] | None = None, **notifier: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(subscription, **notifier)
    text = str(caught.value)
    assert "\n" not in text, "one line"
    assert PASSWORD not in text and "XsecretX" not in text, "no credential in the message"
    return text


MAIL = {"type": "email", "email_from": "t@example.org", "email_to": ["d@example.org"]}


def test_an_smtp_port_out_of_range_stops_the_load():
    # Issue 26's reproduction 11: accepted before, then every mail failed with "Port out of range".
    text = error_of({**MAIL, "url": f"smtp://u:{PASSWORD}@mail.example:99999"})
    assert text.startswith("tripwire.yaml: subscriptions[0].url: ")
    assert "smtp://***@mail.example:99999" in text and "port 99999 is not a TCP port (1-65535)" in text


@pytest.mark.parametrize(
    ("subscription", "says"),
    [
        ({"type": "slack", "url": f"ftp://hooks.slack.com/services/T0/{WEBHOOK_SECRET}"}, "https:// or http://"),
        ({"type": "slack", "url": f"hooks.slack.com/services/T0/{WEBHOOK_SECRET}"}, "https:// or http://"),
        ({"type": "teams", "url": f"https:///workflows/{WEBHOOK_SECRET}"}, "no host"),
        ({"type": "discord", "url": f"https://discord.com:0/api/webhooks/{WEBHOOK_SECRET}"}, "port 0"),
        ({"type": "webhook", "url": "https://hooks.example:http/x"}, "port http"),
        ({"type": "webhook", "url": "http://[::1/hook"}, "not a URL"),
        ({**MAIL, "url": f"https://u:{PASSWORD}@mail.example"}, "smtp:// or smtps://"),
        ({**MAIL, "url": f"smtps://u:{PASSWORD}@:465"}, "no host"),
    ],
)
def test_a_bad_channel_url_names_the_field_and_hides_the_credentials(subscription: dict[str, object], says: str):
    text = error_of(subscription)
    assert "subscriptions[0].url" in text and says in text


@pytest.mark.parametrize("field", ["slack_api_url", "telegram_api_url"])
@pytest.mark.parametrize(
    ("value", "says"),
    [("api.telegram.org", "https:// or http://"), ("ftp://api.example", "https:// or http://"),
     (f"https://u:{PASSWORD}@api.example:70000", "port 70000"), ("https://", "no host")],
)  # fmt: skip
def test_a_bad_api_url_names_the_field(field: str, value: str, says: str):
    text = error_of(**{field: value})
    assert f"notifier: {field}: " in text and says in text


@pytest.mark.parametrize(
    "subscription",
    [
        {"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/x"},
        {"type": "webhook", "url": "http://127.0.0.1:8080/hook"},
        {"type": "webhook", "url": "https://[2001:db8::1]:8443/hook"},
        {"type": "slack", "url": ""},  # ${SLACK_WEBHOOK_URL:-} left empty: the subscription is skipped
        {**MAIL, "url": f"smtp://u:{PASSWORD}@mail.example:587"},
        {**MAIL, "url": "smtps://mail.example"},
    ],
)
def test_good_channel_urls_load(subscription: dict[str, object]):
    load(subscription, slack_api_url="http://127.0.0.1:9/api", telegram_api_url="https://api.telegram.org")
