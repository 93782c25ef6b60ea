"""Builders shared by tests: feeds, configs."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from shared.config import NetworkSettings, TripwireConfig


def rss(items: list[dict[str, str]], title: str = "Test feed") -> bytes:
    """An RSS 2.0 document with ``items`` (keys: title, description, link, guid, pubDate)."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(title)}</title>']
    for item in items:
        fields = "".join(f"<{key}>{escape(value)}</{key}>" for key, value in item.items())
        parts.append(f"<item>{fields}</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def pub_date(when: datetime | None = None) -> str:
    """An RFC 822 date for RSS."""
    return format_datetime(when or datetime(2026, 11, 21, 8, 0, tzinfo=UTC), usegmt=True)


def config_with(base: TripwireConfig, **sections: Any) -> TripwireConfig:
    """``base`` re-validated with some top-level sections replaced, loopback allowed for outbound requests."""
    data = base.model_dump(mode="python", by_alias=True)
    data["network"] = {"allow_private": ["127.0.0.0/8"]}
    for key, value in sections.items():
        data[key] = value
    for sub in data.get("subscriptions", []):
        for secret in ("url", "secret"):
            value = sub.get(secret)
            if value is not None and hasattr(value, "get_secret_value"):
                sub[secret] = value.get_secret_value()
    return TripwireConfig.model_validate(data)


LOOPBACK = NetworkSettings.model_validate({"allow_private": ["127.0.0.0/8"]})
"""Outbound policy for tests: everything they reach is on 127.0.0.1."""
