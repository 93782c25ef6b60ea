"""network.allow_private: CIDRs only, and a typo gets one clear sentence naming file, field and value."""

from __future__ import annotations

import ipaddress

import pytest

from shared.config import ConfigError, NetworkSettings
from shared.config.loader import parse_config


def test_guard_is_on_by_default():
    assert NetworkSettings().allow_private == []
    assert parse_config("feeds: []", "t.yaml", {}).network.allow_private == []


def test_cidrs_and_single_addresses_are_accepted():
    config = parse_config("network: {allow_private: [10.20.0.0/16, '::1/128', 192.168.1.7]}", "t.yaml", {})
    assert config.network.allow_private == [
        ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("::1/128"), ipaddress.ip_network("192.168.1.7/32")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("127.0.0.1/8", r"t\.yaml: network\.allow_private: '127\.0\.0\.1/8' is not a network .* 127\.0\.0\.0/8\?"),
        ("intranet.local", r"'intranet\.local' is not a network in CIDR form .*host names are not accepted"),
    ],
)  # fmt: skip
def test_a_bad_entry_is_named_with_a_fix(entry: str, expected: str):
    with pytest.raises(ConfigError, match=expected):
        parse_config(f"network: {{allow_private: ['{entry}']}}", "t.yaml", {})
