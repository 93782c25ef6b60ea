"""The e2e stack's two outside peers, each in its own container: a news feed and a webhook receiver.

    python peers.py feed       # GET /feed.xml: RSS of every item published so far; POST /items: publish (JSON list)
    python peers.py receiver   # POST anything: recorded (headers, body) and answered 204; GET /received: the records

Standard library only, so it runs on any Python image. Both keep their state in /data (a volume), so a stack taken
``down`` and brought ``up`` again still serves the same feed, and the receiver's record spans both runs.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

DATA = Path("/data")
PORT = 8080
MAX_BODY = 1 << 20
LOCK = threading.Lock()
FETCHES = [0]  # feed fetches since this container started


def _load(name: str) -> list[Any]:
    path = DATA / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def _save(name: str, records: list[Any]) -> None:
    path = DATA / name
    part = path.with_suffix(".part")
    part.write_text(json.dumps(records), encoding="utf-8")
    part.replace(path)  # atomic: a container killed mid-write keeps the previous record


def _rss(items: list[dict[str, str]]) -> bytes:
    entries = "".join(
        "<item>"
        f"<title>{escape(item['title'])}</title><description>{escape(item['description'])}</description>"
        f'<link>{escape(item["link"])}</link><guid isPermaLink="false">{escape(item["guid"])}</guid>'
        f"<pubDate>{escape(item['pubDate'])}</pubDate>"
        "</item>"
        for item in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>e2e feed</title><link>http://feed:{PORT}/</link><description>e2e</description>{entries}"
        "</channel></rss>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    role = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        return self.rfile.read(length)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, b"{}")
        elif self.role == "feed" and self.path.split("?")[0] == "/feed.xml":
            with LOCK:
                items = _load("items.json")
                FETCHES[0] += 1
            self._reply(200, _rss(items), "application/rss+xml")
        elif self.role == "feed" and self.path == "/fetches":
            self._reply(200, json.dumps({"fetches": FETCHES[0]}).encode())
        elif self.role == "receiver" and self.path == "/received":
            with LOCK:
                self._reply(200, json.dumps(_load("received.json")).encode())
        else:
            self._reply(404)

    def do_POST(self) -> None:
        body = self._body()
        if self.role == "feed" and self.path == "/items":
            now = format_datetime(datetime.now(UTC), usegmt=True)
            with LOCK:
                items = _load("items.json")
                items.extend({**item, "pubDate": item.get("pubDate") or now} for item in json.loads(body))
                _save("items.json", items)
            self._reply(200, json.dumps({"items": len(items)}).encode())
        elif self.role == "receiver":
            record = {"path": self.path, "headers": dict(self.headers.items()), "body": body.decode("utf-8")}
            with LOCK:
                _save("received.json", [*_load("received.json"), record])
            self._reply(204)
        else:
            self._reply(404)


def main() -> None:
    Handler.role = sys.argv[1]
    DATA.mkdir(parents=True, exist_ok=True)
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()


if __name__ == "__main__":
    main()
