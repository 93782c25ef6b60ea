"""Parsing stream documents with a clear error for bad JSON or an unknown schema version."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from shared.errors import DataError

SCHEMA_VERSION = 1

T = TypeVar("T")


class SchemaError(DataError, ValueError):
    """A stream entry is not a valid document of the expected schema; it is never retried."""


class Message(BaseModel):
    """Base of every stream document: unknown fields are ignored so additive changes stay compatible."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def to_json(self) -> str:
        """Serialise for a stream entry."""
        return self.model_dump_json()


def parse_document(adapter: TypeAdapter[T], data: str | bytes, what: str) -> T:
    """Validate one JSON document, naming ``what`` and the version in any error."""
    try:
        return adapter.validate_json(data)
    except ValidationError as exc:
        version = _version_of(data)
        if version is not None and version != SCHEMA_VERSION:
            raise SchemaError(
                f"{what}: schema version {version} is not supported (this build reads v{SCHEMA_VERSION})"
            ) from None
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise SchemaError(f"{what}: {field}: {first['msg']}") from None


def _version_of(data: str | bytes) -> Any:
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc.get("v") if isinstance(doc, dict) else None
