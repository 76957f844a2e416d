"""The plain-CRUD peer: the design a user would pick instead of an event store.

FastAPI + a psycopg pool over ONE mutable ``tenants`` table: register is an ``INSERT``, a
lifecycle command a guarded ``UPDATE … WHERE status IN (…) RETURNING …``, a read a ``SELECT``
by primary key. Same routes, same bearer-key check (constant-time compare), same JSON document,
synchronous handlers like the registry's, run under uvicorn with the same number of workers
(``python -m uvicorn bench.peer.app:app_factory --factory``). Configured by ``PEER_DATABASE_URL``,
``PEER_SCHEMA`` and ``PEER_API_KEY``. Only the benchmark runs it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID, uuid4

import orjson
import psycopg
from fastapi import Depends, FastAPI, Header, HTTPException
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field
from starlette.responses import Response

#: The peer's table, in its own schema of the scratch database.
TABLE = "tenants"
COLUMNS = (
    "id",
    "slug",
    "name",
    "timezone",
    "plan",
    "contact_email",
    "metadata",
    "status",
    "created_at",
    "updated_at",
    "trial_ends_at",
    "grace_ends_at",
    "activated_at",
    "paused_at",
    "cancelled_at",
    "deleted_at",
    "purge_after",
    "version",
)


class Command(StrEnum):
    ACTIVATE = "activate"
    START_GRACE = "start-grace"
    PAUSE = "pause"
    CANCEL = "cancel"
    REACTIVATE = "reactivate"


#: command -> (statuses it applies to, new status, the SET clause besides status/version).
TRANSITIONS: dict[Command, tuple[tuple[str, ...], str, str]] = {
    Command.ACTIVATE: (
        ("trial", "grace", "paused"),
        "active",
        "activated_at = coalesce(activated_at, now()), grace_ends_at = NULL, paused_at = NULL",
    ),
    Command.START_GRACE: (("active",), "grace", "grace_ends_at = now() + interval '7 days'"),
    Command.PAUSE: (("trial", "active", "grace"), "paused", "paused_at = now()"),
    Command.CANCEL: (
        ("trial", "active", "grace", "paused"),
        "cancelled",
        "cancelled_at = now(), grace_ends_at = NULL",
    ),
    Command.REACTIVATE: (("cancelled",), "active", "cancelled_at = NULL"),
}


class RegisterBody(BaseModel):
    slug: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "UTC"
    plan: str = Field("free", max_length=40)
    contact_email: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class CommandBody(BaseModel):
    reason: str | None = Field(None, max_length=500)


def _render(row: dict[str, Any]) -> bytes:
    for name in COLUMNS:
        value = row.get(name)
        if isinstance(value, datetime):
            row[name] = value.astimezone(UTC)
    return orjson.dumps(row)


def _answer(row: dict[str, Any], status: int = 200) -> Response:
    headers = {"ETag": f'"{row["version"]}"'}
    if status == 201:
        headers["Location"] = f"/v1/tenants/{row['id']}"
    return Response(_render(row), status, headers=headers, media_type="application/json")


def app_factory() -> FastAPI:
    """One app per uvicorn worker, with its own pool."""
    url = os.environ["PEER_DATABASE_URL"]
    table = sql.Identifier(os.environ.get("PEER_SCHEMA", "bench_peer"), TABLE)
    expected = f"Bearer {os.environ['PEER_API_KEY']}".encode()
    pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
        url,
        min_size=4,
        max_size=8,
        open=True,
        kwargs={"row_factory": dict_row, "autocommit": True},
        connection_class=psycopg.Connection[dict[str, Any]],
    )
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    sql_get = sql.SQL("SELECT {} FROM {} WHERE id = %s").format(cols, table)
    sql_insert = sql.SQL(
        "INSERT INTO {} (id, slug, name, timezone, plan, contact_email, metadata, status,"
        " created_at, updated_at, trial_ends_at, version)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, 'trial', now(), now(), now() + interval '14 days', 1)"
        " RETURNING {}"
    ).format(table, cols)
    sql_commands = {
        command: sql.SQL(
            "UPDATE {} SET status = %s, updated_at = now(), version = version + 1, "
            + set_clause
            + " WHERE id = %s AND deleted_at IS NULL AND status = ANY(%s) RETURNING {}"
        ).format(table, cols)
        for command, (_, _, set_clause) in TRANSITIONS.items()
    }

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        if authorization is None or not hmac.compare_digest(authorization.encode(), expected):
            raise HTTPException(401, "unauthorized")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        pool.close()

    app = FastAPI(lifespan=lifespan)
    auth = [Depends(authorised)]

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.post("/v1/tenants", status_code=201, dependencies=auth)
    def register(body: RegisterBody) -> Response:
        try:
            with pool.connection() as conn:
                row = conn.execute(
                    sql_insert,
                    (
                        uuid4(),
                        body.slug,
                        body.name,
                        body.timezone,
                        body.plan,
                        body.contact_email,
                        orjson.dumps(body.metadata).decode(),
                    ),
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise HTTPException(409, "slug-taken") from None
        assert row is not None
        return _answer(row, 201)

    @app.post("/v1/tenants/{tenant_id}/{command}", dependencies=auth)
    def lifecycle(tenant_id: UUID, command: Command, body: CommandBody | None = None) -> Response:
        allowed, new_status, _ = TRANSITIONS[command]
        with pool.connection() as conn:
            row = conn.execute(
                sql_commands[command], (new_status, tenant_id, list(allowed))
            ).fetchone()
            if row is None:
                row = conn.execute(sql_get, (tenant_id,)).fetchone()
                if row is None:
                    raise HTTPException(404, "not-found")
                if row["status"] != new_status:
                    raise HTTPException(409, "invalid-transition")
        return _answer(row)

    @app.get("/v1/tenants/{tenant_id}", dependencies=auth)
    def get_tenant(tenant_id: UUID) -> Response:
        with pool.connection() as conn:
            row = conn.execute(sql_get, (tenant_id,)).fetchone()
        if row is None:
            raise HTTPException(404, "not-found")
        return _answer(row)

    return app
