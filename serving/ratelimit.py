"""Per-client rate limits with the ``limits`` library (its asyncio API).

Requests are counted with sliding window counters (two counters per client; the previous
window's count is weighted by how much of it the rolling period still covers: cheap, and
approximate near a window's edge). Failed logins, few and the brute-force guard, are counted
exactly with a moving window: never more than the limit in any rolling period.

Redis-backed when a Redis URL is set, so every worker shares the counts; in-process otherwise.
If Redis fails, the limits are kept in-process until it answers again (tried again every
``retry_seconds``): a Redis outage neither blocks nor un-limits clients. The asyncio storages
never block the event loop (the thread-based in-memory storage starts a timer thread per burst
of requests, ~1 ms each).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import StorageError

log = logging.getLogger(__name__)

KEY_PREFIX = "nba-limits"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # seconds, when refused


Limiter = SlidingWindowCounterRateLimiter | MovingWindowRateLimiter


def _limiters(storage) -> dict[str, Limiter]:
    """The limiter of each key kind (``req:<ip>``, ``login:<ip>``) on one storage."""
    return {
        "req": SlidingWindowCounterRateLimiter(storage),
        "login": MovingWindowRateLimiter(storage),
    }


def limits_storage_uri(redis_url: str) -> str:
    """The ``limits`` storage URI of a redis-py URL: ``limits`` spells a socket
    ``redis+unix://``, where redis-py (and NBA_REDIS_URL) spell it ``unix://``."""
    if redis_url.startswith("unix://"):
        redis_url = "redis+" + redis_url
    return "async+" + redis_url


def parse_limit(text: str, setting: str) -> RateLimitItem:
    """``"100/minute"`` as a limit; a ValueError naming the setting otherwise."""
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"{setting}={text!r} is not a rate limit such as '100/minute'") from exc


class RateLimits:
    """The request limit (every ``/api`` call) and the failed-login limit, per client IP."""

    def __init__(
        self,
        request_limit: str,
        login_limit: str,
        redis_url: str | None = None,
        retry_seconds: float = 1.0,
        timeout_seconds: float = 0.25,
    ) -> None:
        self.request_limit = parse_limit(request_limit, "NBA_RATE_LIMIT")
        self.login_limit = parse_limit(login_limit, "NBA_LOGIN_RATE_LIMIT")
        self.retry_seconds = retry_seconds
        self._memory = _limiters(MemoryStorage())
        self._redis: dict[str, Limiter] | None = None
        if redis_url:
            storage = RedisStorage(
                limits_storage_uri(redis_url),
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
                socket_timeout=timeout_seconds,
                socket_connect_timeout=timeout_seconds,
            )
            self._redis = _limiters(storage)
        self._down_until = 0.0
        self._degraded = False
        self.backend = "redis" if redis_url else "memory"

    def _limiters(self) -> dict[str, Limiter]:
        if self._redis is not None and time.monotonic() >= self._down_until:
            return self._redis
        return self._memory

    async def _call(self, method: str, item: RateLimitItem, key: str):
        limiters = self._limiters()
        limiter = limiters[key.partition(":")[0]]
        if limiters is self._memory:
            return await getattr(limiter, method)(item, key)
        try:
            result = await getattr(limiter, method)(item, key)
        except (StorageError, OSError) as exc:
            if not self._degraded:
                log.warning(
                    "rate limit storage unavailable, counting in-process",
                    extra={"error": str(exc)},
                )
            self._degraded = True
            self._down_until = time.monotonic() + self.retry_seconds
            return await getattr(self._memory[key.partition(":")[0]], method)(item, key)
        if self._degraded:
            self._degraded = False
            log.warning("rate limit storage available again")
        return result

    async def _retry_after(self, item: RateLimitItem, key: str) -> int:
        stats = await self._call("get_window_stats", item, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def hit(self, client: str) -> Decision:
        """Count one request of ``client``; refused when over the request limit."""
        if await self._call("hit", self.request_limit, f"req:{client}"):
            return Decision(True)
        return Decision(False, await self._retry_after(self.request_limit, f"req:{client}"))

    async def login_allowed(self, client: str) -> Decision:
        """Whether ``client`` may try to log in (failed attempts are under the login limit)."""
        if await self._call("test", self.login_limit, f"login:{client}"):
            return Decision(True)
        return Decision(False, await self._retry_after(self.login_limit, f"login:{client}"))

    async def login_failed(self, client: str) -> None:
        await self._call("hit", self.login_limit, f"login:{client}")

    def status(self) -> dict:
        return {"backend": self.backend, "ok": not self._degraded}
