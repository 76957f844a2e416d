"""The projector's staging table: made once per session, and never lost to a rolled-back batch."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from common.db import connect
from common.settings import Settings
from projections.schema import STAGE, create_stage


class Rollback(Exception):
    pass


_ADD = sql.SQL("INSERT INTO {} (id) VALUES (gen_random_uuid())").format(sql.Identifier(STAGE))
_COUNT = sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(STAGE))


def _stage_exists(conn: psycopg.Connection[dict[str, object]]) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (f"pg_temp.{STAGE}",))
    found = row.fetchone()
    return bool(found and found["found"])


def test_a_stage_made_inside_a_batch_that_rolls_back_is_made_again(settings: Settings) -> None:
    with connect(settings) as conn:
        with pytest.raises(Rollback), conn.transaction():
            create_stage(conn)
            assert _stage_exists(conn)
            raise Rollback
        assert not _stage_exists(conn)  # the rollback took it back
        with conn.transaction():
            create_stage(conn)  # so this one must not think it is there
            conn.execute(_ADD)


def test_a_stage_made_on_connecting_outlives_a_rolled_back_batch(settings: Settings) -> None:
    with connect(settings) as conn:
        create_stage(conn)  # outside any transaction, as the projector does on connecting
        with pytest.raises(Rollback), conn.transaction():
            create_stage(conn)
            conn.execute(_ADD)
            raise Rollback
        assert _stage_exists(conn)
        with conn.transaction():
            create_stage(conn)
            conn.execute(_ADD)
            count = conn.execute(_COUNT).fetchone()
            assert count is not None and count["n"] == 1
        count = conn.execute(_COUNT).fetchone()
        assert count is not None and count["n"] == 0  # emptied at every commit
