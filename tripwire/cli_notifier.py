"""Notifier commands: ``tripwire dlq list|replay|drop|enable`` and ``tripwire test-alert``.

Output names subscriptions, never their URLs or secrets (those are credentials).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from shared.errors import UsageError

if TYPE_CHECKING:
    from services.notifier.store import DeadLetter, DeadLetters, DeliveryStore
    from shared.config import Settings


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``dlq`` and ``test-alert``."""
    dlq = subparsers.add_parser("dlq", help="inspect, replay or drop dead letters")
    actions = dlq.add_subparsers(dest="dlq_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="dead letters and disabled subscriptions")
    listing.set_defaults(handler=_list)
    for name, handler, verb in (("replay", _replay, "send again"), ("drop", _drop, "delete")):
        action = actions.add_parser(name, parents=[common], help=f"{verb} one dead letter, or all")
        target = action.add_mutually_exclusive_group(required=True)
        target.add_argument("entry_id", nargs="?", metavar="ID", help="dead-letter entry id (from 'dlq list')")
        target.add_argument("--all", action="store_true", help=f"{verb} every dead letter")
        action.set_defaults(handler=handler)
    enable = actions.add_parser("enable", parents=[common], help="deliver again to a subscription disabled by 410")
    enable.add_argument("subscription", metavar="NAME")
    enable.set_defaults(handler=_enable)
    test = subparsers.add_parser("test-alert", parents=[common], help="send a sample alert to one subscription")
    test.add_argument("--subscription", required=True, metavar="NAME")
    test.set_defaults(handler=_test_alert)


def _store(settings: Settings, redis: Any) -> DeliveryStore:
    from services.notifier.store import DeliveryStore
    from shared.streams import StreamNames

    return DeliveryStore(redis, StreamNames.of(settings.config.redis), settings.config.redis.maxlen)


def describe(letter: DeadLetter) -> str:
    """One line per dead letter: id, subscription, status, attempts, reason, first title."""
    doc = letter.doc
    if not letter.is_delivery:
        what = f"entry of {doc['source']}" if letter.is_entry else doc.get("kind") or "entry"
        raw = json.dumps(doc.get("fields") or {"data": doc.get("data")}, ensure_ascii=False)
        raw = raw if len(raw) <= 120 else raw[:119] + "…"
        return f"{letter.entry_id}  [{what}]  {doc.get('reason') or doc.get('error') or ''}  | raw: {raw}".rstrip()
    titles = [m.get("item", {}).get("title") or m.get("message") or "" for m in doc.get("messages", [])]
    first = titles[0][:60] if titles else ""
    more = f" (+{len(titles) - 1} more)" if len(titles) > 1 else ""
    status = doc.get("status") if doc.get("status") is not None else "-"
    return (
        f"{letter.entry_id}  {doc['subscription']}  status={status}  attempts={doc.get('attempts', 0)}  "
        f"{doc.get('reason', '')}  | {first}{more}"
    )


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    from services.notifier.store import DeadLetters
    from tripwire.runtime import redis_connection

    async with redis_connection(settings, allow_embedded=False, command="dlq list") as redis:
        store = _store(settings, redis)
        for name, info in (await store.disabled()).items():
            print(f"subscription {name} is DISABLED since {info.get('at')}: {info.get('reason')}")
        letters = await DeadLetters(store).entries()
        for letter in letters:
            print(describe(letter))
        print(f"{len(letters)} dead letter(s); {await store.schedule_size()} delivery(ies) waiting for a retry")
    return 0


async def _selected(letters: DeadLetters, args: argparse.Namespace) -> list[DeadLetter]:
    if args.all:
        return await letters.entries(count=100_000)
    letter = await letters.get(args.entry_id)
    if letter is None:
        raise UsageError(f"no dead letter with id {args.entry_id}; 'tripwire dlq list' shows the ids")
    return [letter]


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from services.notifier.store import DeadLetters
    from shared.clock import SystemClock
    from tripwire.runtime import redis_connection

    async with redis_connection(settings, allow_embedded=False, command="dlq replay") as redis:
        store = _store(settings, redis)
        letters = DeadLetters(store)
        disabled = await store.disabled()
        replayed = 0
        for letter in await _selected(letters, args):
            if letter.is_entry:
                new_id = await letters.replay_entry(letter)
                print(f"{letter.entry_id}: put back on {letter.doc['source']} as {new_id}")
                replayed += 1
                continue
            if not letter.is_delivery:
                print(f"{letter.entry_id}: not replayable, skipped (use 'tripwire dlq drop')")
                continue
            await letters.replay(letter, SystemClock().now().timestamp())
            replayed += 1
            sub = letter.doc["subscription"]
            if sub in disabled:
                print(f"note: subscription {sub} is disabled; run 'tripwire dlq enable {sub}' or it fails again")
        print(f"replayed {replayed} dead letter(s); the running services pick them up now")
    return 0


async def _drop(args: argparse.Namespace, settings: Settings) -> int:
    from services.notifier.store import DeadLetters
    from tripwire.runtime import redis_connection

    async with redis_connection(settings, allow_embedded=False, command="dlq drop") as redis:
        letters = DeadLetters(_store(settings, redis))
        dropped = await letters.drop([letter.entry_id for letter in await _selected(letters, args)])
        print(f"dropped {dropped} dead letter(s)")
    return 0


async def _enable(args: argparse.Namespace, settings: Settings) -> int:
    from tripwire.runtime import redis_connection

    async with redis_connection(settings, allow_embedded=False, command="dlq enable") as redis:
        was = await _store(settings, redis).enable(args.subscription)
    print(f"subscription {args.subscription} {'enabled again' if was else 'was not disabled'}")
    return 0


async def _test_alert(args: argparse.Namespace, settings: Settings) -> int:
    from services.notifier.sample_alert import send_test_alert
    from shared.clock import SystemClock
    from tripwire.commands import notifier_http

    subs = {sub.name: sub for sub in settings.config.subscriptions}
    sub = subs.get(args.subscription)
    if sub is None:
        raise UsageError(f"no subscription named {args.subscription!r}; configured: {', '.join(subs) or 'none'}")
    missing = sub.missing_target()
    if missing is not None:
        raise UsageError(f"subscription {sub.name!r}: {missing}")
    async with notifier_http(settings) as http:
        result = await send_test_alert(sub, http, SystemClock(), settings.config)
    if result.ok:
        print(f"test alert delivered to {sub.name} (HTTP {result.status})")
        return 0
    kind = "temporary, would be retried" if result.retryable else "permanent"
    print(f"test alert to {sub.name} failed ({kind}): {result.reason}")
    return 1
