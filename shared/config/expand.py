"""``${VAR}`` and ``${VAR:-default}`` expansion, so secrets live in the environment, not in the file."""

from __future__ import annotations

import re
from collections.abc import Mapping

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$")


class MissingVariable(ValueError):
    """A ``${VAR}`` with no default names a variable that is not set."""

    def __init__(self, name: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(name)
        self.name = name
        self.path = path


def expand_string(text: str, environ: Mapping[str, str]) -> str:
    """Replace every ``${VAR}`` / ``${VAR:-default}`` in ``text``; ``$$`` stands for a literal ``$``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise MissingVariable(name)
            return default
        return value

    return _REFERENCE.sub(substitute, text)


def expand_tree(node: object, environ: Mapping[str, str], path: tuple[str | int, ...] = ()) -> object:
    """Expand references in every string of a parsed YAML tree; errors carry the field path."""
    if isinstance(node, str):
        try:
            return expand_string(node, environ)
        except MissingVariable as exc:
            raise MissingVariable(exc.name, path) from None
    if isinstance(node, dict):
        return {key: expand_tree(value, environ, (*path, str(key))) for key, value in node.items()}
    if isinstance(node, list):
        return [expand_tree(value, environ, (*path, index)) for index, value in enumerate(node)]
    return node
