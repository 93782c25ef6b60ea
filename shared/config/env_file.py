"""``.env``: variables for a laptop run, read the way Docker Compose reads the same file.

The README's recipes (Slack, webhooks, the console) put secrets in ``.env`` for ``docker compose``; ``tripwire run``
outside Docker reads the same file, so one recipe works both ways. Compose's rules, which users already know:
``KEY=VALUE`` per line, ``#`` comments, single or double quotes, ``export`` allowed; ``${VAR}`` and ``${VAR:-default}``
expand in unquoted and double-quoted values (not in single-quoted ones); a variable already set in the environment
wins over the file. python-dotenv parses; the rules above are applied here.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv.parser import parse_stream
from dotenv.variables import parse_variables

DEFAULT_ENV_FILE = Path(".env")


@dataclass(frozen=True)
class EnvFile:
    """The variables one ``.env`` file sets (values are secrets: never log them, only ``names``)."""

    path: Path
    values: dict[str, str] = field(repr=False)
    unparsed_lines: list[int] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """The variables it sets, in file order."""
        return list(self.values)


def read_env_file(path: Path, environ: Mapping[str, str]) -> EnvFile | None:
    """The variables set in ``path`` (None when there is no such file); ``environ`` serves ``${VAR}`` expansion."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return parse_env_text(text, path, environ)


def parse_env_text(text: str, path: Path, environ: Mapping[str, str]) -> EnvFile:
    """Parse ``.env`` text; a line that is not ``KEY=VALUE`` is skipped and its number kept for a warning."""
    values: dict[str, str] = {}
    unparsed: list[int] = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            unparsed.append(binding.original.line)
            continue
        if binding.key is None or binding.value is None:
            continue  # a comment, a blank line, or a bare name (Compose passes those through from the shell only)
        value = binding.value
        if not _single_quoted(binding.original.string):
            # The environment wins here too, then what the file set above this line.
            scope = {**values, **environ}
            value = "".join(atom.resolve(scope) for atom in parse_variables(value))
        values[binding.key] = value
    return EnvFile(path=path, values=values, unparsed_lines=unparsed)


def _single_quoted(line: str) -> bool:
    """Whether the value of a ``KEY='value'`` line is single-quoted (Compose expands nothing inside)."""
    _key, _, value = line.partition("=")
    return value.lstrip().startswith("'")
