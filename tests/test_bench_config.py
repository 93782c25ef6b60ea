"""The end-to-end benchmark's config: it must let every alert of its mix through to the receiver during the run."""

from __future__ import annotations

from bench._e2e_worker import bench_config


def test_bench_subscriptions_take_story_updates_one_by_one() -> None:
    """The mix repeats on-topic items, which join stories: a digest of updates would be held past the run."""
    config = bench_config("http://127.0.0.1:9/hook")
    webhook = next(sub for sub in config.subscriptions if sub.type == "webhook")
    assert webhook.updates == "each"
    assert webhook.url.get_secret_value() == "http://127.0.0.1:9/hook"
