"""One line per event with stable keys: ``event key=value`` for people, ``--log-format json`` for machines.

Values are rendered with ``str``; pydantic's SecretStr renders as asterisks, so a secret passed by
mistake still does not reach a log line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
# The token of a signed vote link (shared/votes.py) is a capability: whoever reads it can vote. uvicorn's access log
# writes every request line, query string included; this keeps the path and drops the token.
# Vote and mute links alike: each token is a capability (shared/signing.py).
_VOTE_TOKEN = re.compile(r"(/(?:vote|mute)/link\?t=)[A-Za-z0-9_.%=-]+")


class EventLogger:
    """A logger whose calls name an event and pass fields as keywords: ``log.info("feed_polled", url=...)``."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def debug(self, event: str, **fields: Any) -> None:
        """Log at DEBUG."""
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log at INFO."""
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log at WARNING."""
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log at ERROR."""
        self._log(logging.ERROR, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """Log at ERROR with the current exception's traceback."""
        self._log(logging.ERROR, event, fields, exc_info=True)

    def is_enabled(self, level: int) -> bool:
        """Whether a record at ``level`` would be emitted (to skip building fields on hot paths)."""
        return self._logger.isEnabledFor(level)

    def _log(self, level: int, event: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, event, extra={"fields": fields}, exc_info=exc_info, stacklevel=3)


def get_logger(name: str) -> EventLogger:
    """An event logger for a module."""
    return EventLogger(logging.getLogger(name))


class TextFormatter(logging.Formatter):
    """``2026-11-21T12:00:00Z INFO poller feed_polled url=... new=3``."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a single line."""
        parts = [_timestamp(record), record.levelname, record.name, record.getMessage()]
        parts += [f"{key}={_text_value(value)}" for key, value in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += " error=" + _text_value(self.formatException(record.exc_info).splitlines()[-1])
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line with keys ts, level, logger, event and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a JSON line."""
        doc: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        doc.update({key: _json_value(value) for key, value in _fields(record).items()})
        if record.exc_info:
            doc["traceback"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def redact_vote_tokens(text: str) -> str:
    """``text`` with the token of every vote or mute link replaced by "[redacted]"."""
    return _VOTE_TOKEN.sub(r"\1[redacted]", text)


class RedactVoteTokens(logging.Filter):
    """Rewrites a record whose message holds a vote link (an access log line, an error quoting a URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, minus any vote token in its message."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a broken format string: the handler reports it as usual
        redacted = redact_vote_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def setup_logging(fmt: LogFormat = "text", level: str | int = "INFO") -> None:
    """Send every log record to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactVoteTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party libraries log every request at INFO, with full URLs: secret webhook URLs among them.
    for noisy in ("httpx", "httpcore", "apscheduler", "sentence_transformers", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict):
        return fields
    return {key: value for key, value in record.__dict__.items() if key not in _RESERVED and key != "fields"}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text_value(value: Any) -> str:
    text = str(value)
    if not text or any(ch in text for ch in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
