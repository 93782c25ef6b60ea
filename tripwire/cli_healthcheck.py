"""``tripwire healthcheck SERVICE``: exit 0 when the service's /healthz in this container answers 200, else 1.

For container healthchecks: ``["CMD", "tripwire", "healthcheck", "poller"]`` has no spaces in its arguments, which
every engine passes through unchanged (podman's Docker-compatible API splits a ``python -c "..."`` test on spaces).
The port comes from the same config the service reads (health.*_port, console.port), so changing it there keeps the
healthcheck right. Standard library only, and imported only when this subcommand runs: it is called every few seconds.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the config models (pydantic) only when the command runs: `tripwire --help` stays light
    from shared.config import Settings

SERVICES = ("poller", "classifier", "notifier", "console")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``healthcheck``."""
    check = subparsers.add_parser(
        "healthcheck", parents=[common], help="exit 0 when this container's service answers /healthz with 200"
    )
    check.add_argument("service", choices=SERVICES, help="whose /healthz to ask (its port comes from the config)")
    check.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)")
    check.set_defaults(handler=_healthcheck)


def health_port(settings: Settings, service: str) -> int:
    """The port ``service`` serves /healthz on, from the config."""
    if service == "console":
        return settings.config.console.port
    port: int = getattr(settings.config.health, f"{service}_port")
    return port


async def _healthcheck(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the CLI imports its command modules lazily, and a healthcheck runs every few seconds.
    import sys
    import urllib.error
    import urllib.request

    port = health_port(settings, args.service)
    if port == 0:
        print(f"tripwire healthcheck: {args.service} serves no /healthz (its port is 0 in the config)", file=sys.stderr)
        return 1
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        # Loopback only, a fixed path: nothing from a stranger is read here (S310 is about user-supplied URLs).
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        print(f"tripwire healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"tripwire healthcheck: {url} answered {status}", file=sys.stderr)
        return 1
    return 0
