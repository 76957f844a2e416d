"""One typed settings object, read from the environment (SPEC §6).

It is the single source of truth: the ``eventsourcing`` library gets its ``env`` mapping from
:meth:`Settings.eventsourcing_env`, psycopg pools their connection arguments from
:meth:`Settings.conninfo`.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _check_zone(value: str) -> str:
    if value not in zoneinfo.available_timezones():
        msg = f"unknown IANA timezone {value!r}"
        raise ValueError(msg)
    return value


class Settings(BaseSettings):
    """Configuration of every process of the registry."""

    model_config = SettingsConfigDict(env_prefix="TENANT_REGISTRY_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias="DATABASE_URL",
        description="PostgreSQL URL (libpq URI or key=value string).",
    )
    redis_url: str = Field(
        default=DEFAULT_REDIS_URL, validation_alias="REDIS_URL", description="Redis URL."
    )
    db_schema: str = Field(default="tenant_registry", description="PostgreSQL schema.")
    timezone: str = Field(default="Asia/Jerusalem", description="Business time zone.")
    default_timezone: str = Field(
        default="Asia/Jerusalem", description="Time zone of a tenant registered without one."
    )
    trial_days: int = Field(default=14, ge=1, le=90)
    grace_days: int = Field(default=7, ge=1, le=90)
    retention_days: int = Field(default=90, ge=1, le=3650)
    pool_size: int = Field(default=5, ge=1, le=200)
    pool_max_overflow: int = Field(default=10, ge=0, le=200)
    lock_timeout_seconds: int = Field(default=5, ge=1, le=600)
    # A snapshot every 20 events: loading replays at most 19 events after it (the worst case
    # of a tenant with 10,000 events: 1.1 ms CPU per load instead of 2.5 ms at 100).
    snapshot_interval: int = Field(default=20, ge=2, le=100_000)
    aggregate_cache_size: int = Field(default=10_000, ge=0)
    queue_name: str = Field(default="tenant-registry")

    @field_validator("timezone", "default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _check_zone(value)

    @field_validator("db_schema")
    @classmethod
    def _schema_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            msg = "schema must be a lower-case SQL identifier"
            raise ValueError(msg)
        return value

    @field_validator("database_url")
    @classmethod
    def _parsable_url(cls, value: str) -> str:
        try:
            conninfo_to_dict(value)
        except Exception as exc:
            msg = "DATABASE_URL is not a valid PostgreSQL URL"
            raise ValueError(msg) from exc
        return value

    def conninfo(self, **overrides: Any) -> str:
        """A libpq connection string for psycopg, with ``overrides`` applied."""
        return make_conninfo(self.database_url, **overrides)

    def connection_params(self) -> dict[str, Any]:
        """The parsed connection parameters of :attr:`database_url`."""
        return dict(conninfo_to_dict(self.database_url))

    def eventsourcing_env(self, *, create_table: bool = False) -> dict[str, str]:
        """The ``env`` mapping the ``eventsourcing`` library reads for the PostgreSQL store."""
        params = self.connection_params()
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": str(params.get("dbname") or params.get("user") or "postgres"),
            "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
            "POSTGRES_PORT": str(params.get("port") or "5432"),
            "POSTGRES_USER": str(params.get("user") or "postgres"),
            "POSTGRES_PASSWORD": str(params.get("password") or ""),
            "POSTGRES_SCHEMA": self.db_schema,
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.pool_max_overflow),
            "POSTGRES_LOCK_TIMEOUT": str(self.lock_timeout_seconds),
            "POSTGRES_CONNECT_TIMEOUT": "5",
            # No ping per checkout (a round trip per command); reads retry on a dead
            # connection and the pool drops broken ones.
            "POSTGRES_PRE_PING": "n",
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
            "CREATE_TABLE": "y" if create_table else "n",
            "IS_SNAPSHOTTING_ENABLED": "y",
        }

    # ---- workers/ (scheduled sweeps) ----------------------------------------------------------
    # Cron expressions in business time (``timezone``); a 6th field means seconds (tests).
    sweep_trials_cron: str = Field(default="5 * * * *", description="When the trial sweep runs.")
    sweep_grace_cron: str = Field(default="5 * * * *", description="When the grace sweep runs.")
    sweep_purge_cron: str = Field(default="30 3 * * *", description="When the purge sweep runs.")
    sweep_batch_size: int = Field(default=500, ge=1, le=10_000)
    sweep_threads: int = Field(default=4, ge=1, le=32)

    # ---- api/ (HTTP service) -----------------------------------------------------------------
    # SPEC §11: lag alone never fails readiness (every replica would fail at once, taking
    # down writes that do not need the read side) unless an operator asks for it.
    ready_max_lag_s: float | None = Field(
        default=None,
        ge=0,
        description="If set, /readyz answers 503 when a projection lags more than this.",
    )
    api_min_position_wait_seconds: float = Field(
        default=5.0, gt=0, le=60, description="How long a read with min_position waits."
    )
    # Live streams (SPEC §9): ``TENANT_REGISTRY_MAX_STREAMS`` per API process.
    max_streams: int = Field(default=1000, ge=1, description="Open streams per API process.")
    stream_heartbeat_seconds: float = Field(
        default=15.0, gt=0, le=300, description="A comment line this often on every stream."
    )
    stream_buffer_items: int = Field(
        default=1000, ge=1, description="Items buffered per stream before a stalled one is cut."
    )
    idempotency_secret: SecretStr | None = Field(
        default=None,
        description="Key of the idempotency fingerprints (HMAC); unset: one generated and "
        "kept in the database.",
    )

    # ---- webhooks/ (SPEC §10) -------------------------------------------------------------------
    webhooks_allow_private: bool = Field(
        default=False,
        description="Allow webhook URLs on loopback, private and link-local addresses "
        "(tests and local development only).",
    )
    webhooks_retry_delays: list[float] = Field(
        default=[5, 60, 300, 1800, 7200, 28800, 86400],
        min_length=1,
        max_length=20,
        description="Seconds before each retry of a failed delivery (JSON list); after the "
        "last one the delivery is failed.",
    )
    webhooks_connect_timeout: float = Field(default=3.0, gt=0, le=30)
    webhooks_timeout: float = Field(
        default=10.0, gt=0, le=60, description="A receiver must answer 2xx within this."
    )
    webhooks_secret_overlap_seconds: float = Field(
        default=86400.0, ge=0, description="How long a rotated-out secret keeps signing."
    )
    webhooks_metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Where the dispatcher serves /metrics."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
