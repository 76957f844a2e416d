"""DDL of the read side: the ``tenants`` read table, the purged ids, tracking and status.

Blue/green rebuilds need the read table to be replaceable while readers keep querying, so
``tenants`` and ``tenants_purged`` are *views* over one generation of physical tables
(``tenants_g<n>``, ``tenants_purged_g<n>``). A rebuild fills generation n+1 and then swaps the
views in one transaction. The views are simple, so PostgreSQL inlines them (indexes of the
generation are used) and they are automatically updatable: the live projector writes through
them, and so always writes to whichever generation is live.
"""

from __future__ import annotations

import logging
import re
import weakref
from typing import Any

import psycopg
from psycopg import sql

from common.db import connect
from common.settings import Settings
from common.tables import EVENTS_TABLE
from domain.tenant import TENANT_FIELDS

log = logging.getLogger(__name__)

#: The projection (and the view queries read).
TENANTS = "tenants"
PURGED = "tenants_purged"
#: Projection name -> position, updated in the same transaction as the rows.
TRACKING = "projection_tracking"
#: One row per running projector or rebuild process (heartbeats).
STATUS = "projection_status"

_GENERATION = re.compile(r"^tenants_g(\d+)$")

#: Columns of the read table, in the order of the view and of ``TenantRow``.
COLUMNS: tuple[str, ...] = TENANT_FIELDS
#: The global position of the latest event applied to a row (or of a purged tenant's
#: ``TenantPurged``): the changes feed (SPEC §9) walks rows by it. Not a tenant field, so it
#: follows :data:`COLUMNS` in the tables and views rather than joining them.
POSITION = "position"

#: PostgreSQL types of :data:`COLUMNS` (binary COPY needs them).
COLUMN_TYPES: tuple[str, ...] = (
    "uuid",
    *("text",) * 5,
    "jsonb",
    "text",
    *("timestamptz",) * 9,
    "bigint",
)
#: What a new row is written with (and the physical table's column order).
ROW_COLUMNS: tuple[str, ...] = (*COLUMNS, POSITION)
ROW_TYPES: tuple[str, ...] = (*COLUMN_TYPES, "bigint")
#: Session-local staging table for set-based updates of existing rows.
STAGE = "tenants_changes"
STAGE_COLUMNS: tuple[str, ...] = (*ROW_COLUMNS, "base_version", "assigned")
STAGE_TYPES: tuple[str, ...] = (*ROW_TYPES, "bigint", "int4")

_TENANTS_DDL = (
    "CREATE TABLE IF NOT EXISTS {} ("
    " id uuid PRIMARY KEY,"
    " slug text NOT NULL,"
    " name text NOT NULL,"
    " timezone text NOT NULL,"
    " plan text NOT NULL,"
    " contact_email text,"
    " metadata jsonb NOT NULL,"
    " status text NOT NULL,"
    " created_at timestamptz NOT NULL,"
    " updated_at timestamptz NOT NULL,"
    " trial_ends_at timestamptz,"
    " grace_ends_at timestamptz,"
    " activated_at timestamptz,"
    " paused_at timestamptz,"
    " cancelled_at timestamptz,"
    " deleted_at timestamptz,"
    " purge_after timestamptz,"
    " version bigint NOT NULL,"
    " position bigint NOT NULL DEFAULT 0)"
)
_ADD_POSITION = "ALTER TABLE {} ADD COLUMN IF NOT EXISTS position bigint NOT NULL DEFAULT 0"
_PURGED_DDL = (
    "CREATE TABLE IF NOT EXISTS {} ("
    " id uuid PRIMARY KEY, purged_at timestamptz NOT NULL, position bigint NOT NULL DEFAULT 0)"
)

# (suffix, definition) of each secondary index; ``{}`` is the table.
_INDEXES: tuple[tuple[str, str], ...] = (
    # The list order (newest first) and its keyset cursor.
    ("order", "{} (created_at DESC, id DESC)"),
    ("status", "{} (status, created_at DESC, id DESC)"),
    ("plan", "{} (plan, created_at DESC, id DESC)"),
    # ``q`` as a slug prefix.
    ("slug", "{} (slug text_pattern_ops)"),
    # Sweep candidates, walked in id order (keyset ``after``); the deadline rides along so
    # an index-only scan can filter on it.
    (
        "due_trials",
        "{} (id) INCLUDE (trial_ends_at) WHERE status = 'trial' AND deleted_at IS NULL",
    ),
    (
        "due_grace",
        "{} (id) INCLUDE (grace_ends_at) WHERE status = 'grace' AND deleted_at IS NULL",
    ),
    ("due_purge", "{} (id) INCLUDE (purge_after) WHERE deleted_at IS NOT NULL"),
    # The changes feed: a page after any position is one index range scan.
    ("position", "{} (position)"),
)
_TRGM_INDEX = ("name_trgm", "{} USING gin (name {})")


def tenants_table(generation: int) -> str:
    """The physical read table of one generation."""
    return f"tenants_g{generation}"


def purged_table(generation: int) -> str:
    """The physical table of purged ids of one generation."""
    return f"tenants_purged_g{generation}"


def migrate_read_side(settings: Settings) -> None:
    """Create the read side's tables and views (idempotent; runs after the write side)."""
    with connect(settings) as conn:
        _create_support_tables(conn, settings)
        has_trgm = _ensure_trgm(conn)
        live = live_generation(conn, settings)
        if live is None:
            create_generation(conn, settings, 1, indexes=True, trgm=has_trgm)
            point_views(conn, settings, 1)
        else:
            add_positions(conn, settings, live, trgm=has_trgm)


def _create_support_tables(conn: psycopg.Connection[Any], settings: Settings) -> None:
    schema = sql.Identifier(settings.db_schema)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " name text PRIMARY KEY,"
            " position bigint NOT NULL DEFAULT 0,"
            " updated_at timestamptz NOT NULL DEFAULT now(),"
            " last_error text,"
            " error_position bigint)"
        ).format(sql.Identifier(settings.db_schema, TRACKING))
    )
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " instance text PRIMARY KEY,"
            " name text NOT NULL,"
            " state text NOT NULL,"
            " position bigint NOT NULL DEFAULT 0,"
            " pid int,"
            " host text,"
            " last_seen timestamptz NOT NULL DEFAULT now(),"
            " last_error text)"
        ).format(sql.Identifier(settings.db_schema, STATUS))
    )


def _ensure_trgm(conn: psycopg.Connection[Any]) -> bool:
    """Install ``pg_trgm`` for the name search index; without it, ``q`` still works (slower)."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except psycopg.Error as exc:
        log.warning(
            "pg_trgm is not available in this PostgreSQL: name search (q) works without its"
            " trigram index (see docs/operations.md, 'Name search and pg_trgm')",
            extra={"error": _first_line(exc)},
        )
        return False
    return True


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def has_trgm(conn: psycopg.Connection[Any]) -> bool:
    """Whether ``pg_trgm`` is installed in the database."""
    return _trgm_schema(conn) is not None


def _trgm_schema(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    ).fetchone()
    if row is None:
        return None
    return str(row["extnamespace"] if isinstance(row, dict) else row[0]).strip('"')


def create_generation(
    conn: psycopg.Connection[Any],
    settings: Settings,
    generation: int,
    *,
    indexes: bool,
    trgm: bool,
) -> None:
    """Create the physical tables of one generation (secondary indexes optionally later)."""
    schema = settings.db_schema
    conn.execute(sql.SQL(_TENANTS_DDL).format(sql.Identifier(schema, tenants_table(generation))))
    conn.execute(sql.SQL(_PURGED_DDL).format(sql.Identifier(schema, purged_table(generation))))
    if indexes:
        create_indexes(conn, settings, generation, trgm=trgm)


def create_indexes(
    conn: psycopg.Connection[Any], settings: Settings, generation: int, *, trgm: bool
) -> None:
    """The secondary indexes of one generation's read table (idempotent)."""
    name = tenants_table(generation)
    target = sql.Identifier(settings.db_schema, name)
    for suffix, definition in _INDEXES:
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON ").format(sql.Identifier(f"{name}_{suffix}"))
            + sql.SQL(definition).format(target)
        )
    purged = purged_table(generation)
    conn.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (position)").format(
            sql.Identifier(f"{purged}_position"), sql.Identifier(settings.db_schema, purged)
        )
    )
    trgm_schema = _trgm_schema(conn) if trgm else None
    if trgm_schema is not None:
        # Qualified: the extension may live in a schema that is not on the search path.
        opclass = sql.Identifier(trgm_schema, "gin_trgm_ops")
        suffix, definition = _TRGM_INDEX
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON ").format(sql.Identifier(f"{name}_{suffix}"))
            + sql.SQL(definition).format(target, opclass)
        )


def point_views(conn: psycopg.Connection[Any], settings: Settings, generation: int) -> None:
    """Make ``tenants`` and ``tenants_purged`` show one generation (atomic within a transaction)."""
    schema = settings.db_schema
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in ROW_COLUMNS)
    conn.execute(
        sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT {} FROM {}").format(
            sql.Identifier(schema, TENANTS),
            columns,
            sql.Identifier(schema, tenants_table(generation)),
        )
    )
    conn.execute(
        sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT id, purged_at, position FROM {}").format(
            sql.Identifier(schema, PURGED), sql.Identifier(schema, purged_table(generation))
        )
    )


def add_positions(
    conn: psycopg.Connection[Any], settings: Settings, generation: int, *, trgm: bool
) -> None:
    """Give a generation made before the changes feed its ``position`` columns (idempotent).

    A row's position is that of the event at its version; a purged tenant's store keeps only
    its ``TenantPurged``. One transaction: the projector waits on the tables, readers keep
    the old views until the commit.
    """
    schema = settings.db_schema
    tenants = sql.Identifier(schema, tenants_table(generation))
    purged = sql.Identifier(schema, purged_table(generation))
    if _has_column(conn, schema, tenants_table(generation), POSITION):
        return
    events = sql.Identifier(schema, EVENTS_TABLE)
    with conn.transaction():
        for target in (tenants, purged):
            conn.execute(sql.SQL(_ADD_POSITION).format(target))
        conn.execute(
            sql.SQL(
                "UPDATE {} t SET position = e.notification_id FROM {} e"
                " WHERE e.originator_id = t.id AND e.originator_version = t.version"
            ).format(tenants, events)
        )
        conn.execute(
            sql.SQL(
                "UPDATE {} p SET position = coalesce("
                "(SELECT max(notification_id) FROM {} e WHERE e.originator_id = p.id), 0)"
            ).format(purged, events)
        )
        create_indexes(conn, settings, generation, trgm=trgm)
        point_views(conn, settings, generation)


def _has_column(conn: psycopg.Connection[Any], schema: str, table_name: str, column: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        (schema, table_name, column),
    ).fetchone()
    return row is not None


#: The name of the table the ``tenants`` view reads (one parameter: the view's qualified name).
LIVE_TABLE_QUERY = (
    "SELECT c.relname AS relname FROM pg_rewrite r"
    " JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass"
    " JOIN pg_class c ON c.oid = d.refobjid AND c.relkind = 'r'"
    " WHERE r.ev_class = to_regclass(%s) AND c.oid <> r.ev_class LIMIT 1"
)


def view_name(settings: Settings) -> str:
    """The ``tenants`` view's qualified name, as :data:`LIVE_TABLE_QUERY` takes it."""
    return f'"{settings.db_schema}"."{TENANTS}"'


def generation_of(relname: str | None) -> int | None:
    """The generation a read table's name carries (None for no table or another name)."""
    match = _GENERATION.match(relname) if relname is not None else None
    return int(match.group(1)) if match else None


def live_generation(conn: psycopg.Connection[Any], settings: Settings) -> int | None:
    """The generation the ``tenants`` view shows, or None before the first migration."""
    row = conn.execute(LIVE_TABLE_QUERY, (view_name(settings),)).fetchone()
    if row is None:
        return None
    return generation_of(row["relname"] if isinstance(row, dict) else row[0])


def generations(conn: psycopg.Connection[Any], settings: Settings) -> list[int]:
    """Every generation whose read table exists (live, or left over by a failed rebuild)."""
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s", (settings.db_schema,)
    ).fetchall()
    found = []
    for row in rows:
        name = row["tablename"] if isinstance(row, dict) else row[0]
        if match := _GENERATION.match(name):
            found.append(int(match.group(1)))
    return sorted(found)


#: Connections whose session holds the staging table for good (it was created outside a
#: transaction, so no rollback can take it back).
_STAGED: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


def create_stage(conn: psycopg.Connection[Any]) -> None:
    """The session's staging table of changes to existing rows, emptied at every commit:
    the columns, the version the changes follow, and the bitmask of columns they set.

    A round trip once per session when first called outside a transaction (the projector
    does, on connecting); inside one, every time (a rollback would drop a table created in
    it)."""
    if conn in _STAGED:
        return
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
        for c, t in zip(STAGE_COLUMNS, STAGE_TYPES, strict=True)
    )
    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(
            sql.Identifier(STAGE), columns
        )
    )
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        _STAGED.add(conn)


def drop_generation(conn: psycopg.Connection[Any], settings: Settings, generation: int) -> None:
    """Drop one generation's tables (never the live one: callers check)."""
    schema = settings.db_schema
    for name in (tenants_table(generation), purged_table(generation)):
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, name)))
