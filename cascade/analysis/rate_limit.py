"""The judge's request rate: spaced requests whose rate halves on a rate limit and recovers.

MMAR's official rubric script spaces its requests at most `qps` a second; a rate limit or a
timeout halves the rate (never below 1/16 of the base), each successful request adds 0.5 back (up
to the base). A library limiter was considered: aiolimiter's `AsyncLimiter` fixes its rate when
it is built (changing it means writing its private fields), so it cannot halve and recover; this
small one does, and tests/test_rubrics.py checks it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


class AdaptiveRate:
    """Requests spaced 1/rate seconds apart; `slower()` halves the rate, `faster()` adds 0.5."""

    def __init__(
        self,
        qps: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if qps <= 0:
            raise ValueError(f"the request rate must be positive, got {qps}")
        self.base = float(qps)
        self.current = float(qps)
        self._clock = clock
        self._sleep = sleep
        self._next = clock()
        self._lock = asyncio.Lock()

    @property
    def floor(self) -> float:
        return self.base / 16.0

    def slower(self) -> None:
        """A rate limit or a timeout: halve the rate, not below 1/16 of the base."""
        self.current = max(self.current / 2.0, self.floor)

    def faster(self) -> None:
        """A successful request: 0.5 requests a second more, up to the base."""
        self.current = min(self.current + 0.5, self.base)

    async def acquire(self) -> None:
        """Wait for this request's turn."""
        async with self._lock:
            now = self._clock()
            if now < self._next:
                await self._sleep(self._next - now)
                now = self._clock()
            self._next = now + 1.0 / self.current
