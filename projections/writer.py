"""Set-based writes of a folded batch into one generation's physical tables.

New rows go straight into the table with a binary ``COPY``; changed rows are copied into a
session-local staging table and applied with one ``UPDATE … FROM``; purged tenants are deleted
and recorded. Array parameters would be simpler but psycopg dumps them in Python, which costs
more than the whole rest of a batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from projections.fold import Folded, Row
from projections.schema import (
    COLUMN_TYPES,
    COLUMNS,
    STAGE,
    create_stage,
    purged_table,
    tenants_table,
)

_METADATA = COLUMNS.index("metadata")


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


class RowCountMismatch(Exception):
    """An update did not find every row it expected: the table and the stream disagree."""


class TableWriter:
    """Loads and writes the rows of one generation (statements composed once)."""

    def __init__(self, schema: str, generation: int) -> None:
        tenants = sql.Identifier(schema, tenants_table(generation))
        purged = sql.Identifier(schema, purged_table(generation))
        stage = sql.Identifier(STAGE)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        self._sql_load = sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(cols, tenants)
        self._sql_copy_new = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            tenants, cols
        )
        self._sql_copy_stage = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            stage, cols
        )
        assignments = sql.SQL(", ").join(
            sql.SQL("{0} = s.{0}").format(sql.Identifier(c)) for c in COLUMNS[1:]
        )
        self._sql_update = sql.SQL("UPDATE {} t SET {} FROM {} s WHERE t.id = s.id").format(
            tenants, assignments, stage
        )
        self._sql_delete = sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(tenants)
        self._sql_purged = sql.SQL(
            "INSERT INTO {} (id, purged_at) SELECT * FROM unnest(%s::uuid[], %s::timestamptz[])"
            " ON CONFLICT (id) DO NOTHING"
        ).format(purged)

    def load(self, conn: psycopg.Connection[Any], ids: Iterable[UUID]) -> dict[UUID, Row]:
        """The current rows of ``ids`` (those that exist)."""
        wanted = list(ids)
        if not wanted:
            return {}
        with conn.cursor(row_factory=tuple_row) as cur:
            rows = cur.execute(self._sql_load, (wanted,), prepare=True).fetchall()
        loaded = (Row.from_values(r) for r in rows)
        return {row.id: row for row in loaded}

    def write(self, conn: psycopg.Connection[Any], folded: Folded) -> None:
        """Write the batch's outcome (inside the batch's transaction)."""
        created = [r for i, r in folded.rows.items() if i in folded.created]
        changed = [r for i, r in folded.rows.items() if i not in folded.created]
        if created:
            self._copy(conn, self._sql_copy_new, created)
        if changed:
            self._update(conn, changed)
        if folded.purged:
            ids = list(folded.purged)
            conn.execute(self._sql_delete, (ids,), prepare=True)
            conn.execute(self._sql_purged, (ids, [folded.purged[i] for i in ids]), prepare=True)

    def _update(self, conn: psycopg.Connection[Any], rows: list[Row]) -> None:
        # Cheap when it exists; a temp table created in a rolled-back batch is gone again.
        create_stage(conn)
        self._copy(conn, self._sql_copy_stage, rows)
        cur = conn.execute(self._sql_update, prepare=True)
        if cur.rowcount != len(rows):
            msg = f"updated {cur.rowcount} rows, expected {len(rows)}"
            raise RowCountMismatch(msg)

    @staticmethod
    def _copy(conn: psycopg.Connection[Any], statement: sql.Composed, rows: list[Row]) -> None:
        with conn.cursor().copy(statement) as copy:
            copy.set_types(list(COLUMN_TYPES))
            for row in rows:
                values = list(row.values())
                values[_METADATA] = Jsonb(values[_METADATA], dumps=_dumps)
                copy.write_row(values)
