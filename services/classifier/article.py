"""Fetching one article for ``tripwire score --url``: its title and body text, through the shared HTTP client."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from shared.errors import RemoteError

MAX_REDIRECTS = 5
MAX_BODY_CHARS = 4000
_SKIPPED = {"script", "style", "noscript", "nav", "header", "footer", "aside", "form"}


class ArticleError(RemoteError):
    """The article could not be fetched or has no text; the message says which URL and why."""


class _ArticleText(HTMLParser):
    """Collects the <title>, the meta description and the text of <p> elements outside navigation."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title, self.description = "", ""
        self.paragraphs: list[str] = []
        self._stack: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and (values.get("name") or values.get("property") or "").lower() in {
            "description",
            "og:description",
        }:
            self.description = self.description or (values.get("content") or "").strip()
        if tag in {"meta", "br", "img", "link", "input", "hr"}:
            return
        self._stack.append(tag)
        if tag == "p" and not _SKIPPED & set(self._stack):
            self._current = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self._current is not None:
            text = " ".join("".join(self._current).split())
            if text:
                self.paragraphs.append(text)
            self._current = None
        if tag in self._stack:
            while self._stack and self._stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1] == "title" and not self.title:
            self.title = " ".join(data.split())
        elif self._current is not None:
            self._current.append(data)


def extract_article(html: str) -> tuple[str, str]:
    """(title, summary) of an HTML page: the title, and the description followed by the paragraphs."""
    parser = _ArticleText()
    parser.feed(html)
    parser.close()
    body = " ".join([parser.description, *parser.paragraphs]).strip()
    return parser.title, body[:MAX_BODY_CHARS]


async def fetch_article(http: httpx.AsyncClient, url: str) -> tuple[str, str]:
    """GET ``url`` (following a few redirects ourselves: the shared client never follows them implicitly)."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = await http.get(current)
        except httpx.HTTPError as exc:
            raise ArticleError(f"{current}: could not fetch the article ({type(exc).__name__}: {exc})") from None
        if response.is_redirect and "location" in response.headers:
            current = urljoin(current, response.headers["location"])
            continue
        if response.status_code != 200:
            raise ArticleError(f"{current}: the server answered HTTP {response.status_code}; check the URL")
        title, body = extract_article(response.text)
        if not (title or body):
            raise ArticleError(f"{current}: the page has no title or paragraph text to score")
        return title or current, body
    raise ArticleError(f"{url}: more than {MAX_REDIRECTS} redirects; give the final URL")
