"""Message schemas of the Redis streams: the contract between services and for outside consumers.

Every entry holds one JSON document under the field ``data`` with a schema version ``v``. A change that
adds an optional field keeps ``v``; anything else bumps it, and readers reject versions they do not know.
"""

from shared.schemas.alerts import (
    Alert,
    AlertsMessage,
    FeedHealthEvent,
    Place,
    Reasons,
    alert_or_none,
    parse_alerts_message,
)
from shared.schemas.items import FeedRef, Item
from shared.schemas.versioning import SchemaError

__all__ = [
    "Alert",
    "AlertsMessage",
    "FeedHealthEvent",
    "FeedRef",
    "Item",
    "Place",
    "Reasons",
    "SchemaError",
    "alert_or_none",
    "parse_alerts_message",
]
