"""Set-based writes of a folded batch into one generation's physical tables.

New rows go straight into the table with a binary ``COPY``. Changes to existing rows are
copied into a session-local staging table and applied with one ``UPDATE … FROM`` that sets
only the columns the batch set, and only on a row at the version the changes follow: a row
that is missing or at another version is not touched, and the count tells. Purged tenants
are deleted and recorded. (Array parameters would be simpler, but psycopg dumps them in
Python, which costs more than the rest of a batch.)
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from common.db import rendered
from projections.fold import Folded
from projections.schema import (
    COLUMNS,
    ROW_COLUMNS,
    ROW_TYPES,
    STAGE,
    STAGE_COLUMNS,
    STAGE_TYPES,
    create_stage,
    purged_table,
    tenants_table,
)

_METADATA = COLUMNS.index("metadata")
_ALWAYS_SET = frozenset(("id", "version", "updated_at", "position"))


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


class RowCountMismatch(Exception):
    """Changes did not find every row at the version they follow."""

    def __init__(self, tenant_ids: list[UUID]) -> None:
        self.tenant_ids = tenant_ids
        shown = ", ".join(map(str, tenant_ids[:5]))
        super().__init__(f"no row at the expected version for {len(tenant_ids)} tenants: {shown}")


class TableWriter:
    """Writes the rows of one generation (statements composed once)."""

    def __init__(self, schema: str, generation: int) -> None:
        tenants = sql.Identifier(schema, tenants_table(generation))
        purged = sql.Identifier(schema, purged_table(generation))
        stage = sql.Identifier(STAGE)

        def columns(names: tuple[str, ...]) -> sql.Composable:
            return sql.SQL(", ").join(sql.Identifier(c) for c in names)

        # The statements of every batch go to psycopg as bytes, rendered once here.
        self._sql_copy_new = rendered(
            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(tenants, columns(ROW_COLUMNS))
        )
        self._sql_copy_stage = rendered(
            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(stage, columns(STAGE_COLUMNS))
        )
        assignments = sql.SQL(", ").join(
            sql.SQL("{0} = s.{0}").format(sql.Identifier(c))
            if c in _ALWAYS_SET
            else sql.SQL("{0} = CASE WHEN s.assigned & {1} <> 0 THEN s.{0} ELSE t.{0} END").format(
                sql.Identifier(c), sql.Literal(1 << i)
            )
            for i, c in enumerate(ROW_COLUMNS)
            if c != "id"
        )
        self._sql_update = rendered(
            sql.SQL(
                "UPDATE {} t SET {} FROM {} s WHERE t.id = s.id AND t.version = s.base_version"
            ).format(tenants, assignments, stage)
        )
        self._sql_mismatched = sql.SQL(
            "SELECT s.id FROM {} s LEFT JOIN {} t ON t.id = s.id"
            " WHERE t.version IS DISTINCT FROM s.version"
        ).format(stage, tenants)
        self._sql_delete = sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(tenants)
        self._sql_purged = sql.SQL(
            "INSERT INTO {} (id, purged_at, position)"
            " SELECT * FROM unnest(%s::uuid[], %s::timestamptz[], %s::bigint[])"
            " ON CONFLICT (id) DO NOTHING"
        ).format(purged)

    def write(self, conn: psycopg.Connection[Any], folded: Folded) -> None:
        """Write the batch's outcome (inside the batch's transaction)."""
        created = folded.created()
        if created:
            self._copy(conn, self._sql_copy_new, ROW_TYPES, created)
        changed = folded.changed()
        if changed:
            # Nothing to do on the projector's connection (it made the table on connecting);
            # elsewhere a round trip, as a table created in a rolled-back batch is gone again.
            create_stage(conn)
            self._copy(conn, self._sql_copy_stage, STAGE_TYPES, changed)
            # Not prepared: a prepared statement without parameters keeps the plan made on
            # first use (a hash join over the then-empty table), and without an ANALYZE in
            # between it seq-scans the whole read table for every batch once it has grown.
            updated = conn.execute(self._sql_update, prepare=False).rowcount
            if updated != len(changed):
                raise RowCountMismatch(self._mismatched(conn))
        if folded.purged:
            ids = list(folded.purged)
            conn.execute(self._sql_delete, (ids,), prepare=True)
            at = [folded.purged[i] for i in ids]
            positions = [folded.purge_positions[i] for i in ids]
            conn.execute(self._sql_purged, (ids, at, positions), prepare=True)

    def _mismatched(self, conn: psycopg.Connection[Any]) -> list[UUID]:
        """Tenants whose changes found no row at the version they follow (still staged)."""
        rows = conn.execute(self._sql_mismatched).fetchall()
        return [row[0] if isinstance(row, tuple) else row["id"] for row in rows]

    @staticmethod
    def _copy(
        conn: psycopg.Connection[Any],
        statement: bytes,
        types: tuple[str, ...],
        rows: list[Any],
    ) -> None:
        with conn.cursor().copy(statement) as copy:
            copy.set_types(list(types))
            for row in rows:
                values = list(row.values())
                if values[_METADATA] is not None:
                    values[_METADATA] = Jsonb(values[_METADATA], dumps=_dumps)
                copy.write_row(values)
