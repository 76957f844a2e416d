"""Fixtures of the worker tests: a private Redis for the session, settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue

from common.settings import Settings
from tests.workers.helpers import PrivateRedis, cli_env


@pytest.fixture(scope="session")
def private_redis() -> Iterator[PrivateRedis]:
    """One redis-server of this test session's own (the shared one is left alone)."""
    server = PrivateRedis()
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_client(private_redis: PrivateRedis) -> Iterator[Redis]:
    """A client of the private Redis, emptied for the test."""
    client = Redis.from_url(private_redis.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def wsettings(settings: Settings, private_redis: PrivateRedis, redis_client: Redis) -> Settings:
    """Settings on the test database (tables emptied) and the private Redis (flushed)."""
    return settings.model_copy(update={"redis_url": private_redis.url})


@pytest.fixture
def queue(wsettings: Settings, redis_client: Redis) -> Queue:
    return Queue(wsettings.queue_name, connection=redis_client)


@pytest.fixture
def env(wsettings: Settings) -> dict[str, str]:
    """Environment for ``tenant-registry`` subprocesses on the test database and Redis."""
    return cli_env(wsettings.database_url, wsettings.redis_url)
