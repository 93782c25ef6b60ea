"""The docs' "Command-line reference" page, generated from the argparse parser so it cannot drift from the code."""

from __future__ import annotations

import argparse

TITLE = "# Command-line reference"
_INTRO = (
    "Generated from the `tripwire` argument parser (tripwire/cli.py) by `make reference`; a test fails while it is "
    "stale. `tripwire COMMAND --help` prints the same text. Every command also takes the common options "
    "`--config`, `--log-format`, `--log-level` and `--consumer`."
)
# A fixed width, so the page does not depend on the terminal it was generated in.
_WIDTH = 100


def generate_cli_reference(parser: argparse.ArgumentParser) -> str:
    """The whole page: the top-level help, then one section per subcommand (and per nested subcommand)."""
    parts = [TITLE, "", _INTRO, "", _block(parser)]
    for name, sub in _subcommands(parser, "tripwire"):
        parts += [f"## `{name}`", "", _block(sub)]
    return "\n".join(parts).rstrip("\n") + "\n"


def _subcommands(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every subcommand below ``parser``, depth first, in registration order (aliases once)."""
    found: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        seen: set[int] = set()
        for name, sub in action.choices.items():
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            full = f"{prefix} {name}"
            found.append((full, sub))
            found += _subcommands(sub, full)
    return found


def _block(parser: argparse.ArgumentParser) -> str:
    """One parser's help as a fenced text block, at a fixed width."""
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=_WIDTH)
    return "```text\n" + parser.format_help().rstrip() + "\n```\n"
