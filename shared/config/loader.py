"""Reads, expands and validates the config file; the only module that reads the environment (and ``.env``)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from shared.config.env_file import DEFAULT_ENV_FILE, EnvFile, read_env_file
from shared.config.expand import MissingVariable, expand_tree
from shared.config.model import RedisSettings, Settings, TripwireConfig
from shared.errors import ConfigError as ConfigError  # re-exported: shared.config imports it from here
from shared.logging import get_logger

DEFAULT_CONFIG_PATH = Path("config/tripwire.yaml")
# Field names whose values are never echoed back in an error message.
_SECRET_FIELDS = {"url", "secret", "password", "token", "redis_url"}
# ...except these, which are public by design (console.url is sent to every subscriber inside vote links).
# (A URL with "user:password@" in it is hidden all the same.)
_PUBLIC_FIELDS = {("console", "url")}
log = get_logger(__name__)


def process_environment(env_file: Path = DEFAULT_ENV_FILE) -> dict[str, str]:
    """The process environment over the variables of ``env_file`` (``.env`` in the working directory), if any.

    As ``docker compose`` does with the same file: a variable set in the environment wins over the file.
    """
    found = read_env_file(env_file, os.environ)
    return {**(found.values if found else {}), **os.environ}


def resolve_config_path(cli_path: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """``--config`` if given, else TRIPWIRE_CONFIG, else config/tripwire.yaml."""
    env = process_environment() if environ is None else environ
    return Path(cli_path or env.get("TRIPWIRE_CONFIG") or DEFAULT_CONFIG_PATH)


def load_settings(
    cli_path: str | None = None,
    environ: Mapping[str, str] | None = None,
    consumer_name: str | None = None,
    env_file: Path | None = None,
) -> Settings:
    """Load the config file named by ``--config``/TRIPWIRE_CONFIG and the environment's REDIS_URL.

    ``environ`` None means the process environment over ``.env`` in the working directory (``env_file`` names
    another file); an explicit ``environ`` is used as given, with ``env_file`` under it only if named.
    """
    if environ is None:
        env_file = DEFAULT_ENV_FILE if env_file is None else env_file
        environ = os.environ
    found = read_env_file(env_file, environ) if env_file is not None else None
    env: Mapping[str, str] = environ if found is None else {**found.values, **environ}
    if found is not None:
        _log_env_file(found, environ)
    path = resolve_config_path(cli_path, env)
    config = with_environment_overrides(load_config_file(path, env), env)
    redis_url = env.get("REDIS_URL") or None
    name = consumer_name or env.get("TRIPWIRE_CONSUMER") or socket.gethostname()
    sentinel_password = env.get("REDIS_SENTINEL_PASSWORD") or None
    return Settings(
        config=config,
        config_path=path,
        redis_url=SecretStr(redis_url) if redis_url else None,
        consumer_name=name,
        sentinel_password=SecretStr(sentinel_password) if sentinel_password else None,
    )


def _log_env_file(found: EnvFile, environ: Mapping[str, str]) -> None:
    """Say which .env was read and which names it set: never a value (they are secrets)."""
    used = [name for name in found.names if name not in environ]
    overridden = [name for name in found.names if name in environ]
    log.info(
        "env_file_read", path=str(found.path.absolute()), variables=",".join(used) or "none",
        **({"set_in_environment": ",".join(overridden)} if overridden else {}),
    )  # fmt: skip
    if found.unparsed_lines:
        log.warning(
            "env_file_lines_skipped", path=str(found.path.absolute()),
            lines=",".join(map(str, found.unparsed_lines)), expected="KEY=VALUE",
        )  # fmt: skip


def with_environment_overrides(config: TripwireConfig, environ: Mapping[str, str]) -> TripwireConfig:
    """Apply TRIPWIRE_HEALTH_HOST over ``health.host`` (and the Redis topology variables, below).

    A container must bind /healthz on 0.0.0.0 so its orchestrator can probe it, while the same config file run on a
    laptop keeps the safe 127.0.0.1 default: the image sets the variable, the file does not change.
    """
    host = environ.get("TRIPWIRE_HEALTH_HOST", "").strip()
    config = with_redis_topology(config, environ)
    if not host:
        return config
    return config.model_copy(update={"health": config.health.model_copy(update={"host": host})})


# The same reasoning for the Redis topology: docker-compose.sentinel.yml switches a stack to Sentinel without
# another config file. A variable, when set, replaces the field; the comma-separated list gives redis.sentinels.
_REDIS_TOPOLOGY_VARIABLES = {
    "TRIPWIRE_REDIS_MODE": "mode",
    "TRIPWIRE_REDIS_SENTINELS": "sentinels",
    "TRIPWIRE_REDIS_SERVICE_NAME": "service_name",
}


def with_redis_topology(config: TripwireConfig, environ: Mapping[str, str]) -> TripwireConfig:
    """Apply TRIPWIRE_REDIS_MODE, TRIPWIRE_REDIS_SENTINELS and TRIPWIRE_REDIS_SERVICE_NAME over ``redis``."""
    update: dict[str, Any] = {}
    for variable, field in _REDIS_TOPOLOGY_VARIABLES.items():
        value = environ.get(variable, "").strip()
        if value:
            update[field] = (
                [part.strip() for part in value.split(",") if part.strip()] if field == "sentinels" else value
            )
    if not update:
        return config
    try:
        redis = RedisSettings.model_validate({**config.redis.model_dump(), **update})
    except ValidationError as exc:
        problems = "; ".join(error["msg"] for error in exc.errors())
        names = ", ".join(variable for variable, field in _REDIS_TOPOLOGY_VARIABLES.items() if field in update)
        raise ConfigError(f"{names}: {problems}") from None
    return config.model_copy(update={"redis": redis})


def load_config_file(path: Path, environ: Mapping[str, str] | None = None) -> TripwireConfig:
    """Parse, expand and validate one YAML config file; a relative ``data_dir`` becomes absolute (below).

    ``environ`` None means the process environment over ``.env`` in the working directory.
    """
    env = process_environment() if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found; pass --config PATH or set TRIPWIRE_CONFIG") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    return with_data_dir_resolved(parse_config(text, str(path), env), path)


def with_data_dir_resolved(config: TripwireConfig, path: Path) -> TripwireConfig:
    """``data_dir`` made absolute, once: a relative one (and ``~``) is taken from the config file's directory.

    So every command that reads the same file (``tripwire run``, and ``tripwire feeds`` looking for the Redis that
    ``run`` started there) finds the same data, from whatever directory it runs.
    """
    data_dir = Path(os.path.abspath(path.parent / config.data_dir.expanduser()))
    return config.model_copy(update={"data_dir": data_dir})


def parse_config(text: str, source: str, environ: Mapping[str, str]) -> TripwireConfig:
    """Validate config text; ``source`` names it in error messages."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections (feeds, topics, subscriptions, ...)")
    sources: dict[tuple[str | int, ...], tuple[str, ...]] = {}
    try:
        expanded = expand_tree(raw, environ, sources=sources)
    except MissingVariable as exc:
        field = _format_loc(exc.path)
        raise ConfigError(
            f"{source}: {field}: environment variable {exc.name} is not set; "
            f"set it, or write ${{{exc.name}:-default}} to make it optional"
        ) from None
    try:
        config = TripwireConfig.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source, exc)) from None
    for position, sub in enumerate(config.subscriptions):
        sub.read_from({str(path[2]): names for path, names in sources.items() if path[:2] == ("subscriptions", position)
                       and len(path) == 3})  # fmt: skip
    return config


def _format_validation_error(source: str, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        field = _format_loc(loc) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            lines.append(f"{source}: {field}: unknown field; check its spelling against the configuration reference")
            continue
        value = _describe_value(loc, error.get("input"))
        lines.append(f"{source}: {field}: {value}{message}")
    return "\n".join(lines)


def _describe_value(loc: tuple[Any, ...], value: Any) -> str:
    public = tuple(map(str, loc)) in _PUBLIC_FIELDS and "@" not in str(value)
    if not public and any(_is_secret_field(str(part)) for part in loc):
        return "value hidden (secret): "
    if isinstance(value, dict | list) or value is None:
        return ""
    text = repr(value)
    return f"{text[:80]}{'…' if len(text) > 80 else ''} is not valid: "


def _is_secret_field(name: str) -> bool:
    # session_secret, vote_secret, bot_token, ... are secrets too.
    return name in _SECRET_FIELDS or name.endswith(("_secret", "_token", "_password"))


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
