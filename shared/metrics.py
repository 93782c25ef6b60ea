"""Every Prometheus metric Tripwire exports, defined once so names and labels stay consistent.

Labels never carry secrets: subscriptions are labelled by name, feeds by their URL (feed URLs are
not secrets; webhook URLs are, and never appear here).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
SCORE_BUCKETS = tuple(round(0.05 * step, 2) for step in range(1, 21))

# Poller
ITEMS_FETCHED = Counter("tripwire_items_fetched_total", "Feed entries parsed", ["feed"])
ITEMS_PUBLISHED = Counter("tripwire_items_published_total", "New items published to the items stream", ["feed"])
FEED_ERRORS = Counter("tripwire_feed_errors_total", "Failed feed polls", ["feed", "reason"])
FEED_POLL_SECONDS = Histogram("tripwire_feed_poll_seconds", "Duration of one feed poll", buckets=LATENCY_BUCKETS)

# Classifier
ITEMS_CLASSIFIED = Counter("tripwire_items_classified_total", "Items scored")
TOPIC_SCORES = Histogram("tripwire_topic_score", "Scores per topic", ["topic"], buckets=SCORE_BUCKETS)
ALERTS_CREATED = Counter("tripwire_alerts_created_total", "Alerts published", ["topic"])
# Per language ("unknown" when neither the feed nor detection gave one): at most the 97 codes py3langid knows
# plus the feeds' declared ones, so the label stays bounded.
ITEMS_BY_LANGUAGE = Counter("tripwire_items_classified_by_language_total", "Items scored, per language", ["language"])
ALERTS_BY_LANGUAGE = Counter(
    "tripwire_alerts_created_by_language_total", "Alerts published, per topic and item language", ["topic", "language"]
)
BATCH_SIZE = Histogram(
    "tripwire_classifier_batch_size",
    "Items scored together (one read)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)

# Notifier
DELIVERIES = Counter("tripwire_deliveries_total", "Delivery attempts by outcome", ["subscription", "outcome", "reason"])
RETRIES = Counter("tripwire_delivery_retries_total", "Deliveries scheduled for another attempt", ["subscription"])
DEAD_LETTERS = Counter(
    "tripwire_dead_letters_total", "Entries and deliveries sent to the dead-letter stream", ["source"]
)
SETTLES_FENCED = Counter(
    "tripwire_delivery_settles_fenced_total", "Outcomes discarded because the attempt's lease had run out"
)
UNROUTED = Counter("tripwire_alerts_unrouted_total", "Alerts no subscription wanted")
SILENCED = Counter(
    "tripwire_alerts_silenced_total",
    "Alerts a silence kept from a subscription (recorded, not delivered)",
    ["subscription"],
)

# Streams (all consumers)
STREAM_LENGTH = Gauge("tripwire_stream_length", "Entries in a stream", ["stream"])
STREAM_MAXLEN = Gauge("tripwire_stream_maxlen", "Configured approximate cap of a stream", ["stream"])
CONSUMER_LAG = Gauge("tripwire_consumer_lag", "Entries not yet delivered to a group", ["stream", "group"])
PENDING = Gauge("tripwire_pending_entries", "Entries read but not acked", ["stream", "group"])
PROCESSING_SECONDS = Histogram(
    "tripwire_processing_seconds", "From publish to processed, per stage", ["stage"], buckets=LATENCY_BUCKETS
)
ENTRIES_RECLAIMED = Counter("tripwire_entries_reclaimed_total", "Entries taken over from dead consumers", ["stream"])
STREAM_FULL = Gauge("tripwire_stream_full", "1 while the backlog is at redis.maxlen (producers wait)", ["stream"])
STREAM_WAITS = Counter(
    "tripwire_stream_waits_total", "Entries a producer held back (or waits) because the stream was full", ["stream"]
)
STREAM_UNREAD_DELETED = Gauge(
    "tripwire_stream_unread_deleted", "1 when entries a group never read were deleted (Redis >= 7)", ["stream", "group"]
)
ENTRIES_INVALID = Counter(
    "tripwire_entries_invalid_total", "Unparseable or unknown-version entries dead-lettered", ["stream", "reason"]
)
ENTRIES_TRIMMED = Counter("tripwire_entries_trimmed_total", "Pending entries found trimmed", ["stream"])
