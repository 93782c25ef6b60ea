"""``tripwire silence add|list|expire``: mute matching alerts for a while, as amtool does for Alertmanager.

    tripwire silence add story=<story id> subscription=newsroom --duration 2d --reason "followed on the wire"
    tripwire silence list [--all]
    tripwire silence expire <id>

Matchers are FIELD=VALUE with FIELD one of story, topic, feed, place, subscription; all must match (shared/silences.py).
"""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the config models (pydantic) only when the command runs: `tripwire --help` stays light
    from shared.config import Settings


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``silence`` with its three actions."""
    silence = subparsers.add_parser("silence", help="mute matching alerts for a while (add, list, expire)")
    actions = silence.add_subparsers(dest="silence_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=[common], help="mute alerts matching every FIELD=VALUE for a duration")
    add.add_argument(
        "matchers", nargs="+", metavar="FIELD=VALUE", help="story=, topic=, feed= (URL or title), place=, subscription="
    )
    add.add_argument("--duration", required=True, help="how long, e.g. 2h, 3d (at most 90 days)")
    add.add_argument("--reason", required=True, help="why: shown wherever the silence is listed")
    add.add_argument("--by", default=None, help="who set it (default: your login name)")
    add.set_defaults(handler=_add)
    listing = actions.add_parser("list", parents=[common], help="active and pending silences (--all: expired too)")
    listing.add_argument("--all", action="store_true", help="also the expired ones of the last 7 days")
    listing.set_defaults(handler=_list)
    expire = actions.add_parser("expire", parents=[common], help="end a silence now")
    expire.add_argument("silence_id", metavar="ID")
    expire.set_defaults(handler=_expire)


def describe(silence: Any, now: datetime) -> str:
    """One line per silence: id, state, until, matchers, who and why."""
    return (
        f"{silence.id}  {silence.state(now):7}  until {silence.ends_at:%Y-%m-%d %H:%M} UTC  {silence.describe()}  "
        f"by {silence.created_by}: {silence.reason}"
    )


async def _add(args: argparse.Namespace, settings: Settings) -> int:
    from shared.clock import SystemClock
    from shared.config import parse_duration
    from shared.silences import SilenceError, SilenceStore, check_known, new_silence, parse_matchers
    from shared.streams import StreamNames
    from tripwire.runtime import UsageError, redis_connection

    try:
        seconds = parse_duration(args.duration)
        matchers = parse_matchers(args.matchers)
        config = settings.config
        check_known(matchers, config.topics, [sub.name for sub in config.subscriptions])
        silence = new_silence(matchers, seconds, args.reason, args.by or _login_name(), SystemClock().now())
    except (SilenceError, ValueError) as exc:
        raise UsageError(f"silence add: {exc}") from None
    async with redis_connection(settings, allow_embedded=False, command="silence add") as redis:
        await SilenceStore(redis, StreamNames.of(settings.config.redis)).add(silence)
    print(f"silence {silence.id} set: {silence.describe()} until {silence.ends_at:%Y-%m-%d %H:%M} UTC")
    return 0


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    from shared.clock import SystemClock
    from shared.silences import SilenceStore
    from shared.streams import StreamNames
    from tripwire.runtime import redis_connection

    now = SystemClock().now()
    async with redis_connection(settings, allow_embedded=False, command="silence list") as redis:
        silences = await SilenceStore(redis, StreamNames.of(settings.config.redis)).all(now)
    shown = [s for s in silences if args.all or s.state(now) != "expired"]
    for silence in shown:
        print(describe(silence, now))
    print(f"{len(shown)} silence(s)")
    return 0


async def _expire(args: argparse.Namespace, settings: Settings) -> int:
    from shared.clock import SystemClock
    from shared.silences import SilenceError, SilenceStore
    from shared.streams import StreamNames
    from tripwire.runtime import UsageError, redis_connection

    async with redis_connection(settings, allow_embedded=False, command="silence expire") as redis:
        try:
            silence = await SilenceStore(redis, StreamNames.of(settings.config.redis)).expire(
                args.silence_id, SystemClock().now()
            )
        except SilenceError as exc:
            raise UsageError(str(exc)) from None
    print(f"silence {silence.id} expired: {silence.describe()}")
    return 0


def _login_name() -> str:
    """Who set the silence when ``--by`` is not given: the login name, or "cli" where there is none (a container run
    under an arbitrary uid has no passwd entry, and getpass.getuser() raises)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
