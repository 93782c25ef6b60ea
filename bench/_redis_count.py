"""Counting Redis round trips: a connection class that tallies every packet it sends, by command.

One ``send_packed_command`` is one round trip: a single command, or a whole pipeline / MULTI..EXEC. A packet is
labelled by its command (``EVALSHA`` by the name of the script's constant in the module that defines it), a
pipeline by the commands it carries, so a bench can say which round trips one delivery makes.
"""

from __future__ import annotations

import hashlib
import importlib
from collections import Counter
from typing import Any

from redis.asyncio.connection import Connection

# Modules whose module-level Lua scripts the notifier runs (EVALSHA is labelled by the constant's name).
SCRIPT_MODULES = ("services.notifier.leases", "services.notifier.store", "services.notifier.shared_pacing",
                  "shared.streams", "shared.stream_bounds", "shared.stream_consume")  # fmt: skip
SETUP = frozenset({"CLIENT", "HELLO", "SELECT", "AUTH", "PING"})


def script_names() -> dict[str, str]:
    """SHA1 of each script constant in SCRIPT_MODULES -> its name."""
    names: dict[str, str] = {}
    for module_name in SCRIPT_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name, value in vars(module).items():
            if isinstance(value, str) and "redis.call" in value:
                names[hashlib.sha1(value.encode()).hexdigest()] = name.strip("_")  # noqa: S324 - Redis' script id
    return names


def commands_in(packet: bytes) -> list[str]:
    """The command names in a RESP packet (``EVALSHA <sha>`` keeps the sha, to be named)."""
    out: list[str] = []
    at = 0
    while at < len(packet) and packet[at : at + 1] == b"*":
        end = packet.index(b"\r\n", at)
        count, at = int(packet[at + 1 : end]), end + 2
        args: list[bytes] = []
        for _ in range(count):
            end = packet.index(b"\r\n", at)
            length = int(packet[at + 1 : end])
            args.append(packet[end + 2 : end + 2 + length])
            at = end + 2 + length + 2
        name = args[0].decode().upper() if args else "?"
        if name == "SCRIPT" and len(args) > 1:
            name = f"SCRIPT {args[1].decode().upper()}"
        out.append(f"EVALSHA {args[1].decode()}" if name == "EVALSHA" and len(args) > 1 else name)
    return out


class RoundTrips:
    """Round trips by label; ``CountingConnection`` adds to the one its pool was given."""

    def __init__(self) -> None:
        self.by_label: Counter[str] = Counter()
        self.scripts = script_names()

    def add(self, packet: bytes) -> None:
        """Count one packet."""
        names = [self._name(command) for command in commands_in(packet)]
        if len(names) == 1:
            self.by_label[names[0]] += 1
        else:
            body = [n for n in names if n not in ("MULTI", "EXEC")]
            kind = "MULTI" if "MULTI" in names else "pipeline"
            self.by_label[f"{kind}[{', '.join(sorted(set(body)))}]"] += 1

    def total(self, *, setup: bool = False) -> int:
        """Round trips counted (connection setup left out unless ``setup``)."""
        return sum(n for label, n in self.by_label.items() if setup or label.split()[0] not in SETUP)

    def reset(self) -> None:
        """Start counting afresh."""
        self.by_label.clear()

    def _name(self, command: str) -> str:
        if command.startswith("EVALSHA "):
            sha = command.split()[1]
            return f"EVALSHA {self.scripts.get(sha, sha[:8])}"
        return command


class CountingConnection(Connection):
    """A connection that reports each packet it sends to ``round_trips`` (a pool keyword)."""

    def __init__(self, *args: Any, round_trips: RoundTrips, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.round_trips = round_trips

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """Count, then send."""
        packet = command if isinstance(command, bytes | str) else b"".join(bytes(part) for part in command)
        self.round_trips.add(packet.encode() if isinstance(packet, str) else packet)
        await super().send_packed_command(command, check_health)
