"""Parsing rules: malformed feeds keep their entries, non-feeds are errors that say so, hostile XML is harmless."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.poller.entries import canonical_link, entry_id, entry_to_item
from services.poller.parse import FeedParseError, parse_feed
from shared.schemas import FeedRef
from tests.helpers import rss
from tests.poller.support import START, story
from tripwire.local_http import LocalServer, Reply

URL = "http://127.0.0.1/feed"
XML = {"content-type": "application/rss+xml"}


def parse(content: bytes, headers: dict[str, str] | None = None):
    return parse_feed(content, XML if headers is None else headers, URL, START)


def test_rss_and_atom_items_are_plain_text_in_utc():
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
      <entry><id>urn:x:1</id><title>Atom &amp; co</title><updated>2026-11-21T10:00:00+02:00</updated>
      <summary type="html">&lt;b&gt;Bold&lt;/b&gt;   text</summary></entry></feed>"""
    item = parse(atom).items[0]
    assert (item.title, item.summary) == ("Atom & co", "Bold text")
    assert item.published is not None and item.published.isoformat() == "2026-11-21T08:00:00+00:00"
    assert parse(rss([story(1)])).items[0].summary == "Body of story 1 & more"


def test_malformed_feed_keeps_its_entries_and_says_it_was_malformed():
    broken = rss([story(1), story(2)]).replace(b"</channel></rss>", b"<item><title>cut off")
    parsed = parse(broken)
    assert [item.title for item in parsed.items][:2] == ["Story 1", "Story 2"]
    assert parsed.malformed


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"<!DOCTYPE html><html><body>Welcome</body></html>", XML, "an HTML page where a feed was expected"),
        (b"<html><head><title>x</title></head></html>", {"content-type": "text/html"}, "an HTML page"),
        (b"   \n", XML, "empty body"),
        (b"\x00\x01garbage", XML, "not a feed"),
    ],
)
def test_a_body_that_is_not_a_feed_is_an_error_that_says_so(body, headers, message):
    with pytest.raises(FeedParseError, match=message):
        parse(body, headers)


def test_billion_laughs_parses_in_bounded_memory():
    lols = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">\n' for n in range(1, 10))
    bomb = f"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY lol0 "lol">
{lols}]>
<rss version="2.0"><channel><title>t</title><item><title>&lol9;</title><guid>g</guid></item></channel></rss>"""
    items = _bounded(lambda: parse(bomb.encode()).items)
    assert all("lollol" not in item.title for item in items)


def test_quadratic_blowup_of_a_literal_entity_parses_in_bounded_memory():
    big = "A" * 100_000
    refs = "&big;" * 50_000
    doc = f"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY big "{big}">
]>
<rss version="2.0"><channel><title>t</title><item><title>x</title><description>{refs}</description></item>
</channel></rss>"""
    items = _bounded(lambda: parse(doc.encode()).items)
    assert all(len(item.summary) < 10_000 for item in items)


def test_external_entities_read_no_local_file(tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    for doc in (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>',
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{secret}">\n]>',
        f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "file://{secret}">',
    ):
        body = doc + "<rss version='2.0'><channel><title>&xxe;</title><item><title>T &xxe;</title>"
        body += "<description>D &xxe;</description><guid>g</guid></item></channel></rss>"
        try:
            parsed = parse(body.encode())
        except FeedParseError as exc:
            assert "TOP-SECRET" not in str(exc)
            continue
        assert all("TOP-SECRET" not in item.title + item.summary for item in parsed.items)
        assert "TOP-SECRET" not in (parsed.title or "")


def test_a_body_that_is_a_local_path_is_not_opened(tmp_path: Path):
    # feedparser.parse(bytes) opens the bytes as a file name when such a file exists; we never hand it bytes.
    secret = tmp_path / "feed.xml"
    secret.write_bytes(rss([{"title": "TOP-SECRET-CONTENT", "guid": "s"}]))
    with pytest.raises(FeedParseError):
        parse(str(secret).encode())


async def test_hostile_feed_over_http_is_only_a_feed_error(redis, default_config):
    from tests.poller.support import poller_config, running_poller

    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>'
    with LocalServer(lambda _r: Reply(200, bomb, XML)) as server:
        config = poller_config(default_config, [f"{server.url}/feed"])
        async with running_poller(config, redis) as poller:
            result = (await poller.poll_all())[0]
    assert result.error and "not a feed" in result.error


def test_ids_are_stable_across_feeds_and_tracking_parameters():
    plain = {"link": "HTTPS://Example.org/a?id=1&utm_source=rss#top"}
    tracked = {"link": "https://example.org/a?utm_medium=x&id=1"}
    one, other = "https://one.example/rss", "https://other.example/rss"
    # A URL is global: the same article in two feeds is one item.
    assert entry_id(plain, one) == entry_id(tracked, other)
    assert entry_id({"id": "https://example.org/a?id=1&fbclid=z"}, one) == entry_id(tracked, other)
    assert entry_id({"id": "tag:x,2026:1", "link": "https://a"}, one) == entry_id({"id": "tag:x,2026:1"}, one)
    assert entry_id({"title": "T", "published": "d"}, one) != entry_id({"title": "T", "published": "e"}, one)
    assert canonical_link("https://EXAMPLE.org") == "https://example.org/"


def test_ids_that_are_not_urls_are_scoped_to_their_feed():
    # Two feeds numbering their items from 1: guid "12345" in one must not drop the other's item 12345.
    one, other = "https://one.example/rss", "https://other.example/rss"
    assert entry_id({"id": "12345"}, one) != entry_id({"id": "12345"}, other)
    assert entry_id({"id": "12345"}, one) == entry_id({"guid": "12345"}, one)
    assert entry_id({"title": "T", "published": "d"}, one) != entry_id({"title": "T", "published": "d"}, other)


def _bounded(work):
    tracemalloc.start()
    try:
        result = work()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, f"parsing took {peak} bytes"
    return result


def test_an_undated_entry_is_dated_when_fetched_and_says_so() -> None:
    fetched_at = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    ref = FeedRef(url="http://127.0.0.1/feed.xml")
    undated = entry_to_item({"title": "No date here", "link": "http://127.0.0.1/a"}, ref, fetched_at)
    dated = entry_to_item({"title": "Dated", "published_parsed": fetched_at.timetuple()}, ref, fetched_at)
    assert undated is not None and (undated.published, undated.published_estimated) == (fetched_at, True)
    assert dated is not None and dated.published_estimated is False
