"""One declaration of a tenant's shape (``domain.tenant.TENANT_SHAPE``): the read row, the
read table's column types and DDL, and the API's response model agree with it."""

from __future__ import annotations

import types
from datetime import datetime
from typing import Any, Union, get_args, get_origin, get_type_hints
from uuid import UUID

import psycopg

from api.models import TenantOut
from common.settings import Settings
from domain.tenant import TENANT_SHAPE, Kind
from projections.models import TenantRow
from projections.schema import COLUMN_TYPES, COLUMNS

PYTHON: dict[Kind, type] = {
    Kind.ID: UUID,
    Kind.TEXT: str,
    Kind.JSON: dict,
    Kind.INSTANT: datetime,
    Kind.COUNT: int,
}
POSTGRES: dict[Kind, str] = {
    Kind.ID: "uuid",
    Kind.TEXT: "text",
    Kind.JSON: "jsonb",
    Kind.INSTANT: "timestamptz",
    Kind.COUNT: "bigint",
}
UDT = {"int8": "bigint"}


def _split(annotation: Any) -> tuple[set[Any], bool]:
    """The non-None parts of an annotation (origins for generics) and whether None is one."""
    parts = (
        get_args(annotation)
        if get_origin(annotation) in (Union, types.UnionType)
        else (annotation,)
    )
    kinds = {get_origin(p) or p for p in parts if p is not type(None)}
    return kinds, type(None) in parts


def test_read_row_has_every_field_with_its_type() -> None:
    hints = get_type_hints(TenantRow)
    for field in TENANT_SHAPE:
        kinds, nullable = _split(hints[field.name])
        assert kinds == {PYTHON[field.kind]}, field
        assert nullable is field.nullable, field


def test_response_model_has_every_field_with_its_nullability() -> None:
    for field in TENANT_SHAPE:
        annotation = TenantOut.model_fields[field.name].annotation
        kinds, nullable = _split(annotation)
        assert nullable is field.nullable, field
        if field.name != "status":  # a Literal of the status names
            assert kinds == {PYTHON[field.kind]}, field


def test_projection_column_types_follow_the_shape() -> None:
    types_by_column = dict(zip(COLUMNS, COLUMN_TYPES, strict=True))
    for field in TENANT_SHAPE:
        assert types_by_column[field.name] == POSTGRES[field.kind], field


def test_read_table_ddl_follows_the_shape(settings: Settings) -> None:
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            "SELECT c.table_name, c.column_name, c.udt_name, c.is_nullable"
            " FROM information_schema.columns AS c"
            " JOIN information_schema.tables AS t USING (table_schema, table_name)"
            " WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE'"
            " AND c.table_name ~ '^tenants(_g[0-9]+)?$'",
            (settings.db_schema,),
        ).fetchall()
    tables: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, column, udt, nullable in rows:
        tables.setdefault(table, {})[column] = (UDT.get(udt) or udt, nullable == "YES")
    assert tables
    for columns in tables.values():
        for field in TENANT_SHAPE:
            assert columns[field.name] == (POSTGRES[field.kind], field.nullable), field
