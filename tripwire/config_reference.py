"""The docs' "Configuration reference" page, generated from the pydantic config model so it cannot drift from the code.

``make reference`` rewrites docs/reference/config.md (tripwire/reference_pages.py); a test fails while it is stale;
``tripwire config-reference`` prints it.
"""

from __future__ import annotations

import ipaddress
import json
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, BeforeValidator, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from shared.config import TripwireConfig, parse_duration

HEADING = "# Configuration reference"
# The variables shared/config reads besides ${VAR} references in the file (tests check this list is complete).
ENVIRONMENT_VARIABLES = {
    "REDIS_URL": "Redis address, e.g. `redis://:PASSWORD@redis:6379/0`. When it is unset, `run` and `demo` start "
    "their own Redis, and the other commands use the one a running `run` wrote to `data_dir/redis.url`.",
    "TRIPWIRE_CONFIG": "Config file when `--config` is not given (default: `config/tripwire.yaml`).",
    "TRIPWIRE_CONSUMER": "Consumer name in the Redis consumer groups when `--consumer` is not given "
    "(default: the host name, which is the container id in Docker).",
    "TRIPWIRE_HEALTH_HOST": "Overrides `health.host`; the Docker image sets `0.0.0.0`.",
    "TRIPWIRE_REDIS_MODE": "Overrides `redis.mode` (`docker-compose.sentinel.yml` sets `sentinel`).",
    "TRIPWIRE_REDIS_SENTINELS": "Overrides `redis.sentinels`, comma-separated `host:port`.",
    "TRIPWIRE_REDIS_SERVICE_NAME": "Overrides `redis.service_name`.",
    "REDIS_SENTINEL_PASSWORD": "Password the Sentinels themselves ask for (sentinel mode; none when unset).",
}
_INTRO = (
    "Generated from the config model in `shared/config` by `tripwire config-reference`; after changing the model, "
    "run `make reference` to rewrite this page (a test fails while it is stale). Every field is optional "
    "unless its default says *required*. Durations are written `30s`, `5m`, `2h`, `7d` or as seconds. Any string "
    "may use `${VAR}` or `${VAR:-default}` to read the environment."
)
_DURATION_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def generate_reference(root: type[BaseModel] = TripwireConfig) -> str:
    """The whole page, title included, ending with one newline."""
    parts = [HEADING, "", _INTRO, ""]
    for path, model in _sections(root, ""):
        parts += _section(path, model)
    parts += ["## Environment variables", "", "| variable | meaning |", "| --- | --- |"]
    parts += [f"| `{name}` | {_cell(text)} |" for name, text in ENVIRONMENT_VARIABLES.items()]
    return "\n".join(parts) + "\n"


def _sections(model: type[BaseModel], path: str) -> Iterator[tuple[str, type[BaseModel]]]:
    """Each model in the tree with its path (``topics.<name>.keywords``), depth first, in field order."""
    yield path, model
    for name, field in model.model_fields.items():
        nested = _nested_model(field.annotation)
        if nested is not None:
            child, suffix = nested
            yield from _sections(child, _join(path, (field.alias or name) + suffix))


def _section(path: str, model: type[BaseModel]) -> list[str]:
    title = f"`{path}`" if path else "Top level"
    doc = (model.__doc__ or "").strip().splitlines()[0]
    lines = [f"## {title}", "", doc, "", "| field | type | default | description |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        key = _join(path, field.alias or name)
        description = field.description or ("See below." if _nested_model(field.annotation) else "")
        row = (f"`{key}`", _type_name(field), _default(field), description)
        lines.append("| " + " | ".join(_cell(part) for part in row) + " |")
    return [*lines, ""]


def _nested_model(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The model inside a field (``x``, ``list[x]``, ``dict[str, x]``, optional), with its path suffix."""
    annotation = _strip_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    args = get_args(annotation)
    if get_origin(annotation) is list and args and _is_model(args[0]):
        return args[0], "[]"
    if get_origin(annotation) is dict and len(args) == 2 and _is_model(args[1]):
        return args[1], ".<name>"
    return None


def _type_name(field: FieldInfo) -> str:
    name = _describe(field.annotation)
    if _is_duration(field.metadata):
        name = "duration"
    bounds = _bounds(field.metadata)
    return f"{name} ({bounds})" if bounds else name


def _describe(annotation: Any) -> str:
    """A reader's name for a type: ``string``, ``list of string``, ``slack | webhook``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return "duration" if _is_duration(args[1:]) else _describe(args[0])
    if origin in (Union, types.UnionType):
        if set(args) == {ipaddress.IPv4Network, ipaddress.IPv6Network}:
            return "network (CIDR)"
        named = [_describe(arg) for arg in args if arg is not type(None)]
        suffix = " or null" if type(None) in args else ""
        return " or ".join(named) + suffix
    if origin is Literal:
        return " or ".join(f"`{arg}`" for arg in args)
    if origin is list:
        return "list of sections" if _is_model(args[0]) else f"list of {_describe(args[0])}"
    if origin is dict:
        return "mapping of names to sections" if _is_model(args[1]) else f"mapping of names to {_describe(args[1])}"
    if _is_model(annotation):
        return "section"
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path", SecretStr: "secret string"}
    return simple.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return "" if isinstance(value, BaseModel) else f"`{json.dumps(value)}`"
    if field.default is PydanticUndefined:
        return "*required*"
    value = field.default
    if _is_duration(field.metadata) and isinstance(value, int | float):
        return f"`{_format_duration(value)}`"
    if isinstance(value, Path):
        return f"`{value}`"
    return f"`{json.dumps(value)}`"


def _format_duration(seconds: float) -> str:
    """``300.0`` -> ``5m``: the largest unit that divides it evenly."""
    for unit, size in _DURATION_UNITS:
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _bounds(metadata: Sequence[Any]) -> str:
    symbols = (
        (annotated_types.Gt, "gt", ">"),
        (annotated_types.Ge, "ge", "≥"),
        (annotated_types.Lt, "lt", "<"),
        (annotated_types.Le, "le", "≤"),
    )
    out = []
    for item in metadata:
        out += [f"{symbol} {getattr(item, attr)}" for kind, attr, symbol in symbols if isinstance(item, kind)]
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            out.append(f"at least {item.min_length}")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            out.append(f"matches `{pattern}`")
    return ", ".join(out)


def _is_duration(metadata: Sequence[Any]) -> bool:
    return any(isinstance(item, BeforeValidator) and item.func is parse_duration for item in metadata)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _cell(text: str) -> str:
    """Table cells cannot hold a newline or a bare pipe."""
    return " ".join(text.split()).replace("|", "\\|")
