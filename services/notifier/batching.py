"""Group commit: many concurrent callers' Redis operations go out in one call, without anyone waiting for a batch.

The delivery worker runs each delivery as its own task, and each task marks "send started" and settles its
outcome with a fenced script. Sent one by one, that is two round trips per delivery. Here a caller submits its
operation and awaits its own result; the first submission starts a flush, and every operation submitted while a
flush is on its way goes in the next one. An idle worker pays no delay (its operation goes out on the next turn
of the event loop); a busy one sends one script call for all the deliveries that finished meanwhile.

Each operation keeps its own result (a stale token fails only its own settle). If the call fails (Redis down),
every operation of that call sees the error, as if it had been sent alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Op = TypeVar("Op")
Result = TypeVar("Result")


class GroupCommit(Generic[Op, Result]):
    """Runs ``flush`` on the operations submitted since the last flush began; at most ``limit`` per call."""

    def __init__(self, flush: Callable[[list[Op]], Awaitable[list[Result]]], limit: int = 128, gather: int = 0) -> None:
        self._flush, self._limit, self._gather = flush, limit, gather
        self._queue: list[tuple[Op, asyncio.Future[Result]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.calls = 0  # flushes made (tests and benches read it)

    async def submit(self, op: Op) -> Result:
        """Queue ``op`` for the next flush and wait for its own result."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((op, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await future

    async def idle(self) -> None:
        """Return once nothing is queued or on its way (shutdown)."""
        while self._runner is not None and not self._runner.done():
            await asyncio.wait([self._runner])

    async def _run(self) -> None:
        while self._queue:
            for _ in range(self._gather):
                await asyncio.sleep(0)  # a few turns of the loop: sends finishing together join this call
            batch, self._queue = self._queue[: self._limit], self._queue[self._limit :]
            self.calls += 1
            try:
                results = await self._flush([op for op, _future in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for {len(batch)} operations")
            except Exception as exc:  # every caller of this call sees it, as if it had called alone
                for _op, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # cancelled (the loop is closing): nobody may wait for ever
                for _op, future in batch + self._queue:
                    future.cancel()
                self._queue = []
                raise
            for (_op, future), result in zip(batch, results, strict=True):
                if not future.done():  # a caller cancelled meanwhile (shutdown) no longer wants it
                    future.set_result(result)
