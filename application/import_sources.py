"""Where an import reads its rows: another system's PostgreSQL table, or JSON lines (SPEC §13).

Both sources yield batches of :class:`SourceRow` in creation order (``created_at``, then
``id``), so that of several rows sharing a slug the one created first claims it, and a rerun
meets the rows in the same order. Columns are matched to tenant fields by the usual names
(:data:`ALIASES`) unless ``--map col=field`` says otherwise. Values are only brought to
Python types here; the rules are the domain's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

#: Tenant fields an import reads, each with the column names that usually hold it.
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "tenant_id", "uuid"),
    "slug": ("slug", "handle", "subdomain"),
    "name": ("name", "display_name", "company_name"),
    "timezone": ("timezone", "time_zone", "tz"),
    "plan": ("plan", "plan_name", "tier"),
    "contact_email": ("contact_email", "email", "billing_email"),
    "metadata": ("metadata", "meta", "attributes"),
    "status": ("status", "state"),
    "created_at": ("created_at", "created", "inserted_at"),
    "updated_at": ("updated_at", "modified_at", "updated"),
    "trial_ends_at": ("trial_ends_at", "trial_end", "trial_ends"),
    "grace_ends_at": ("grace_ends_at", "grace_end", "grace_ends"),
    "activated_at": ("activated_at",),
    "paused_at": ("paused_at", "suspended_at"),
    "cancelled_at": ("cancelled_at", "canceled_at"),
    "deleted_at": ("deleted_at", "removed_at"),
    "purge_after": ("purge_after",),
}
TIME_FIELDS = frozenset(f for f in ALIASES if f.endswith("_at") or f == "purge_after")


class ImportSourceError(Exception):
    """The source cannot be read as asked (unknown table, column or field)."""


@dataclass(frozen=True)
class SourceRow:
    """One row of the source: where it is (for refusals) and its values by tenant field."""

    where: str
    values: dict[str, Any]


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """``["col=field", …]`` as ``{col: field}``; unknown fields are refused."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, field = pair.partition("=")
        column, field = column.strip(), field.strip()
        if not sep or not column or field not in ALIASES:
            msg = f"--map {pair!r}: expected column=field with a field among {', '.join(ALIASES)}"
            raise ImportSourceError(msg)
        mapping[column] = field
    return mapping


def resolve_columns(columns: Sequence[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """``{field: column}``: the explicit mapping first, then the usual names."""
    present = set(columns)
    missing = sorted(set(mapping) - present)
    if missing:
        msg = f"the source has no column {', '.join(map(repr, missing))}"
        raise ImportSourceError(msg)
    chosen = {field: column for column, field in mapping.items()}
    taken = set(mapping)
    for field, names in ALIASES.items():
        if field not in chosen:
            column = next((n for n in names if n in present and n not in taken), None)
            if column is not None:
                chosen[field] = column
                taken.add(column)
    if "id" not in chosen:
        msg = "the source has no id column (name it with --map COLUMN=id)"
        raise ImportSourceError(msg)
    return chosen


def to_python(field: str, value: Any) -> Any:
    """A source value as the domain expects it; what cannot be read is passed on as is, for
    the domain to refuse with its reason."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if field in ("status", "slug"):
            value = value.lower()
        if value == "":
            return None
    if value is None:
        return None
    if field in TIME_FIELDS:
        return _instant(value)
    if field == "metadata" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _instant(value: Any) -> Any:
    """Timestamps without a zone are read as UTC (what such columns usually hold)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def parse_id(value: Any) -> UUID | None:
    """The row's UUID, or None when it has none."""
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            return None
    return None


def _table_identifier(table: str) -> sql.Identifier:
    parts = table.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        msg = f"--table {table!r}: expected NAME or SCHEMA.NAME"
        raise ImportSourceError(msg)
    return sql.Identifier(*parts)


class TableSource:
    """Rows of a PostgreSQL table, read with a server-side cursor a batch at a time.

    With ``part=(k, n)`` only the k-th of n disjoint shares is read, split by a hash of the
    slug: rows sharing a slug stay in one share, in creation order, so that n processes can
    import one share each and the first-created row of a slug still claims it.
    """

    def __init__(
        self,
        url: str,
        table: str,
        mapping: Mapping[str, str],
        part: tuple[int, int] = (0, 1),
    ) -> None:
        self.url = url
        self.table_name = table
        self.table = _table_identifier(table)
        self.mapping = mapping
        self.part = part
        self.describe = f"table {table}"

    def batches(self, size: int) -> Iterator[list[SourceRow]]:
        """Batches of ``size`` rows in creation order; one read-only snapshot for the run."""
        k, n = self.part
        label = "row {}" if n == 1 else f"row {{}} of share {k + 1}/{n}"
        with self._connect() as conn:
            conn.read_only = True
            set_json_loads(orjson.loads, conn)
            chosen = resolve_columns(self._columns(conn), self.mapping)
            fields = list(chosen)
            number = 0
            with conn.cursor(name="tenant_registry_import") as cursor:
                cursor.itersize = size
                cursor.execute(self._query(chosen), {"k": k, "n": n})
                while rows := cursor.fetchmany(size):
                    batch = []
                    for row in rows:
                        number += 1
                        values = {f: to_python(f, v) for f, v in zip(fields, row, strict=True)}
                        batch.append(SourceRow(label.format(number), values))
                    yield batch

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, connect_timeout=10)
        except psycopg.OperationalError as exc:
            lines = str(exc).strip().splitlines()
            msg = f"cannot reach the source database: {lines[0] if lines else type(exc).__name__}"
            raise ImportSourceError(msg) from None

    def _columns(self, conn: psycopg.Connection[Any]) -> list[str]:
        try:
            probe = conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(self.table))
        except psycopg.errors.UndefinedTable:
            msg = f"the source has no table {self.table_name!r}"
            raise ImportSourceError(msg) from None
        return [d.name for d in probe.description or ()]

    def _query(self, chosen: dict[str, str]) -> sql.Composed:
        key = sql.Identifier(chosen["id"])
        order: list[sql.Composable] = [key]
        if "created_at" in chosen:
            created = sql.Identifier(chosen["created_at"])
            order.insert(0, sql.SQL("{} NULLS LAST").format(created))
        share: sql.Composable = sql.SQL("{}::text").format(key)
        if "slug" in chosen:
            slug = sql.Identifier(chosen["slug"])
            share = sql.SQL("coalesce(nullif(lower(btrim({}::text)), ''), {})").format(slug, share)
        return sql.SQL(
            "SELECT {} FROM {} WHERE mod(hashtext({}) & 2147483647, %(n)s) = %(k)s ORDER BY {}"
        ).format(
            sql.SQL(", ").join(sql.Identifier(chosen[f]) for f in chosen),
            self.table,
            share,
            sql.SQL(", ").join(order),
        )


class JsonLinesSource:
    """Rows of a JSON lines file (one object per line), sorted by creation in memory."""

    def __init__(self, path: Path, mapping: Mapping[str, str]) -> None:
        self.path = path
        self.mapping = mapping
        self.describe = f"file {path.name}"

    def batches(self, size: int) -> Iterator[list[SourceRow]]:
        """Batches of ``size`` rows in creation order; unreadable lines come first, as rows
        with nothing but their problem, so that they are refused with it."""
        objects: list[tuple[int, dict[str, Any]]] = []
        broken: list[SourceRow] = []
        keys: set[str] = set()
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"cannot read {self.path.name}: {exc}"
            raise ImportSourceError(msg) from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                broken.append(SourceRow(f"line {number}", {"_unreadable": "not a JSON object"}))
                continue
            keys.update(obj)
            objects.append((number, obj))
        chosen = resolve_columns(sorted(keys), self.mapping)
        rows = [
            SourceRow(f"line {n}", {f: to_python(f, obj.get(c)) for f, c in chosen.items()})
            for n, obj in objects
        ]
        rows.sort(key=_creation_order)
        everything = [*broken, *rows]
        for start in range(0, len(everything), size):
            yield everything[start : start + size]


_LAST = datetime.max.replace(tzinfo=UTC)


def _creation_order(row: SourceRow) -> tuple[datetime, str]:
    created = row.values.get("created_at")
    if not isinstance(created, datetime) or created.tzinfo is None:
        created = _LAST
    return created, str(row.values.get("id"))
