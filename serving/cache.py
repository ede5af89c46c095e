"""The prediction cache: Redis when configured, in-process otherwise.

Keys cover the endpoint, the normalized request, the model name and version and the version of
the stored data (:func:`cache_key`), so a promotion or new games never serve a stale answer.
When Redis fails, answers are served uncached: the failure is logged once and counted, Redis is
tried again every ``retry_seconds``, and caching resumes (logged once) when it answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

KEY_PREFIX = "nba:pred:"


def cache_key(
    endpoint: str, request: dict[str, Any], models: list[tuple[str, str]], data_version: str
) -> str:
    """A key for ``request`` (already normalized: resolved defaults, canonical names)."""
    body = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(body.encode()).hexdigest()[:32]
    model_part = ",".join(f"{name}@{version}" for name, version in models)
    return f"{KEY_PREFIX}{endpoint}:{model_part}:{data_version}:{digest}"


class MemoryCache:
    """An in-process LRU with a TTL per entry."""

    backend = "memory"

    def __init__(self, ttl_seconds: int, max_entries: int = 50_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        now = time.monotonic()
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            expires, raw = found
            if expires < now:
                del self._items[key]
                return None
            self._items.move_to_end(key)
        return json.loads(raw)

    def set(self, key: str, value: dict[str, Any]) -> None:
        if self.ttl <= 0:
            return
        raw = json.dumps(value, default=str).encode()
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl, raw)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def status(self) -> dict[str, Any]:
        return {"backend": self.backend, "ok": True, "entries": len(self._items)}

    def close(self) -> None:
        self._items.clear()


class RedisCache:
    """Redis with a circuit breaker: an outage costs one failed call per ``retry_seconds``."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        ttl_seconds: int,
        on_error: Callable[[], None] | None = None,
        retry_seconds: float = 1.0,
        timeout_seconds: float = 0.25,
    ) -> None:
        import redis

        self.ttl = ttl_seconds
        self.retry_seconds = retry_seconds
        self._on_error = on_error or (lambda: None)
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry_on_timeout=False,
        )
        self._errors = (redis.exceptions.RedisError, OSError)
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._last_error: str | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self._down_since is None

    def _usable(self) -> bool:
        return self._down_since is None or time.monotonic() >= self._retry_at

    def _failed(self, exc: Exception) -> None:
        self._on_error()
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = time.time()
            self._retry_at = time.monotonic() + self.retry_seconds
            self._last_error = f"{type(exc).__name__}: {exc}"
        if first:
            log.warning(
                "cache unavailable, answering uncached until it returns",
                extra={"error": self._last_error},
            )

    def _succeeded(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            down = self._down_since
            self._down_since = None
            self._last_error = None
        if down is not None:
            log.warning("cache available again", extra={"down_seconds": time.time() - down})

    def get(self, key: str) -> dict[str, Any] | None:
        if not self._usable():
            return None
        try:
            raw = self._client.get(key)
        except self._errors as exc:
            self._failed(exc)
            return None
        self._succeeded()
        return json.loads(raw) if raw is not None else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        if self.ttl <= 0 or not self._usable():
            return
        try:
            self._client.set(key, json.dumps(value, default=str), ex=self.ttl)
        except self._errors as exc:
            self._failed(exc)
            return
        self._succeeded()

    def ping(self) -> bool:
        """Check Redis now (health): resets the breaker when it answers."""
        try:
            self._client.ping()
        except self._errors as exc:
            self._failed(exc)
            return False
        self._succeeded()
        return True

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"backend": self.backend, "ok": self.available}
        if self._down_since is not None:
            doc["down_since"] = self._down_since
            doc["error"] = self._last_error
        return doc

    def close(self) -> None:
        self._client.close()


def make_cache(
    redis_url: str | None, ttl_seconds: int, on_error: Callable[[], None] | None = None
) -> MemoryCache | RedisCache:
    if redis_url:
        return RedisCache(redis_url, ttl_seconds, on_error=on_error)
    return MemoryCache(ttl_seconds)
