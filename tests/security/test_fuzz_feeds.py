"""Fuzzing the feed-to-item path (fetched bytes -> parse_feed -> Items): no crash, no hang, bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.hostile import MiB, check_items, hang_guard, memory_peak, parse
from tests.security.seeds import SEEDS

# Fragments a hostile or broken feed is made of, spliced into real-shaped feeds.
TOKENS = [
    b"<!DOCTYPE rss [", b"<!ENTITY a \"aaaaaaaaaa\">", b"]>", b"&a;", b"<!ENTITY % p SYSTEM \"http://127.0.0.1:9/\">",
    b"%p;", b"<![CDATA[", b"]]>", b"<!--", b"-->", b"&lt;", b"&amp;", b"&#0;", b"&#x202e;", b"&#xd800;", b"<", b">",
    b"</item>", b"<item>", b"<entry>", b"<title>", b"</title>", b"<html>",
    b"<?xml version=\"1.0\" encoding=\"utf-16\"?>",
    b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\xe2\x80\xae", b"<script>alert(1)</script>",
    b"<link>javascript:alert(1)</link>", b"<!channel>", b"\"", b"'", b"=", b"xmlns:x=\"urn:x\"",
]  # fmt: skip

# Far above a normal parse of these sizes (milliseconds): only a hang trips it.
GUARD_SECONDS = 20.0
MEMORY_BOUND = 64 * MiB


@st.composite
def mutated_feed(draw: st.DrawFn) -> bytes:
    """A seed feed with a few bytes replaced, deleted, duplicated or hostile fragments spliced in."""
    data = bytearray(draw(st.sampled_from(sorted(SEEDS.values()))))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "repeat"]))
        if op == "insert":
            data[at:at] = draw(st.sampled_from(TOKENS)) * draw(st.integers(1, 50))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif op == "replace":
            data[at : at + 1] = draw(st.binary(min_size=1, max_size=8))
        else:
            data[at:at] = bytes(data[at : at + draw(st.integers(1, 60))]) * draw(st.integers(2, 200))
    return bytes(data)


def parse_within_bounds(content: bytes) -> None:
    """Parse ``content``: only FeedParseError may come out, within the time guard and memory bound."""
    with hang_guard(GUARD_SECONDS), memory_peak() as peak:
        parsed = parse(content)
    check_items(parsed)
    assert peak.bytes < MEMORY_BOUND, f"parsing {len(content)} bytes peaked at {peak.bytes} bytes"


# deadline=None: per-example times on a shared 2-core machine are noisy; the hang guard above bounds them instead.
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash_hang_or_blow_up(content):
    parse_within_bounds(content)


@pytest.mark.slow
@FUZZ
@given(mutated_feed())
def test_mutated_real_feeds_never_crash_hang_or_blow_up(content):
    parse_within_bounds(content)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_feeds_parse_to_items(name):
    parsed = parse(SEEDS[name])
    check_items(parsed)
    assert not isinstance(parsed, Exception) and len(parsed.items) == 2
