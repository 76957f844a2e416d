"""Redis connections for the worker and the scheduler, and the backoff they share."""

from __future__ import annotations

import logging

import redis
from redis import Redis

log = logging.getLogger("tenant_registry.workers")

#: What a lost or refused Redis connection raises.
REDIS_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


def make_redis(url: str) -> Redis:
    """A client that fails fast when Redis is gone (the caller retries) instead of hanging."""
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def redis_problem(url: str) -> str | None:
    """None if Redis answers a PING at ``url``, else a one-line reason."""
    client = make_redis(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        lines = str(exc).strip().splitlines()
        return f"cannot reach Redis: {lines[0] if lines else type(exc).__name__}"
    finally:
        client.close()
    return None


class Backoff:
    """Exponential delays (1 s doubling to ``cap``) with one log line per retry."""

    def __init__(self, what: str, *, first: float = 1.0, cap: float = 30.0) -> None:
        self.what = what
        self.first = first
        self.cap = cap
        self.delay = 0.0

    def failed(self, exc: BaseException) -> float:
        """Record a failure; log it and return how long to wait before the next try."""
        self.delay = self.first if self.delay == 0 else min(self.delay * 2, self.cap)
        log.warning(
            "%s: Redis unreachable, retrying in %.0f s",
            self.what,
            self.delay,
            extra={"error": type(exc).__name__},
        )
        return self.delay

    def succeeded(self) -> None:
        """Record a success; log the recovery if there had been failures."""
        if self.delay:
            log.info("%s: Redis is reachable again", self.what)
        self.delay = 0.0
