"""The enforcement epoch: which rooms changed at each step, for the plugins' long-poll."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

HISTORY = 4096


class Enforcement:
    """The enforcement epoch and which rooms changed at each step, for the plugins' long-poll.

    The first epoch is the start time in milliseconds, so an epoch a plugin kept from an
    earlier run of the service is not in the history and yields "*" (re-check everything).
    """

    def __init__(self) -> None:
        self.epoch = int(time.time() * 1000)
        self._history: deque[tuple[int, frozenset[str]]] = deque(maxlen=HISTORY)
        self._changed = asyncio.Event()
        self._closing = False

    def close(self) -> None:
        """Answer every waiting long-poll now (the service is shutting down)."""
        self._closing = True
        self._changed.set()

    def advance(self, rooms: set[str]) -> None:
        self.epoch += 1
        self._history.append((self.epoch, frozenset(rooms)))
        self._changed.set()
        self._changed = asyncio.Event()

    def changes_since(self, after: int) -> list[str] | None:
        """Rooms changed since epoch `after`; None when nothing changed."""
        if after == self.epoch:
            return None
        oldest = self._history[0][0] if self._history else self.epoch + 1
        if after > self.epoch or after < oldest - 1:
            return ["*"]
        rooms: set[str] = set()
        for epoch, changed in self._history:
            if epoch > after:
                rooms |= changed
        return sorted(rooms)

    async def wait(self, after: int, timeout: float) -> list[str] | None:
        changes = self.changes_since(after)
        if changes is not None or timeout <= 0 or self._closing:
            return changes
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
        return self.changes_since(after)
