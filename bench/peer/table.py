"""The peer's one mutable table, loaded with the seeded tenants (one ``INSERT … SELECT``)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from bench.peer.app import COLUMNS, TABLE
from bench.services import settle
from common.settings import Settings
from projections.schema import TENANTS

#: The peer's schema in the scratch database (dropped with it).
PEER_SCHEMA = "bench_peer"


def load_peer_table(settings: Settings) -> int:
    """(Re)create ``bench_peer.tenants`` as a copy of the read table; return its row count."""
    schema = sql.Identifier(PEER_SCHEMA)
    table = sql.Identifier(PEER_SCHEMA, TABLE)
    source = sql.Identifier(settings.db_schema, TENANTS)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        conn.execute(
            sql.SQL("CREATE TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(table, cols, source)
        )
        conn.execute(sql.SQL("INSERT INTO {} SELECT {} FROM {}").format(table, cols, source))
        # Indexes after the load (faster); the two a CRUD table needs: id and the unique slug.
        conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(table))
        conn.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (slug)").format(table))
        conn.execute(sql.SQL("ANALYZE {}").format(table))
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        settle(conn)
    return int(row[0]) if row else 0
