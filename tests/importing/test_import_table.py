"""``tenant-registry import`` from a tenants table (SPEC §13), on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from domain.calendar import local_midnight_after
from domain.errors import TenantGone
from projections.queries import ReadModel
from projections.runner import catch_up
from tests.importing.conftest import SourceTable, run_import
from workers.runtime import build_runtime
from workers.sweeps import run_sweep

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


def _row(slug: str | None, status: str, age_days: int, **fields: Any) -> dict[str, Any]:
    created = NOW - age_days * DAY
    return {
        "id": uuid4(),
        "name": f"{(slug or 'nameless').title()} Ltd",
        "slug": slug,
        "status": status,
        "timezone": "Asia/Jerusalem",
        "plan": "pro",
        "contact_email": f"ops@{slug or 'x'}.example",
        "metadata": {"crm": slug},
        "created_at": created,
        "updated_at": created + DAY,
        **fields,
    }


def _good_rows() -> list[dict[str, Any]]:
    """Rows in every status, soft-deleted ones inside and past the 90-day retention."""
    return [
        _row("trial-co", "trial", 3),  # trial_ends_at missing: derived
        _row("trial-set", "trial", 2, trial_ends_at=NOW + 5 * DAY, timezone="UTC"),
        _row("active-co", "active", 300, activated_at=NOW - 299 * DAY),
        _row("grace-co", "grace", 200, activated_at=NOW - 199 * DAY, grace_ends_at=NOW + DAY),
        _row("paused-co", "paused", 100, paused_at=NOW - 99 * DAY, metadata=None),
        _row("cancel-co", "cancelled", 120, cancelled_at=NOW - 20 * DAY, contact_email=None),
        _row(
            "deleted-recent",
            "cancelled",
            400,
            cancelled_at=NOW - 30 * DAY,
            deleted_at=NOW - 10 * DAY,
            updated_at=NOW - 10 * DAY,
        ),
        _row(
            "deleted-long-ago",
            "cancelled",
            500,
            cancelled_at=NOW - 200 * DAY,
            deleted_at=NOW - 100 * DAY,
            updated_at=NOW - 100 * DAY,
        ),
        _row(None, "active", 50, name="Émile & Fils", activated_at=NOW - 49 * DAY),
    ]


def _bad_rows(good: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One row per problem, by the reason it must be refused with."""
    return {
        "duplicate-slug": _row("active-co", "active", 10),  # created after the holder
        "invalid-status": _row("frozen-co", "frozen", 5),
        "invalid-timezone": _row("mars-co", "active", 5, timezone="Mars/Olympus"),
        "invalid-name": _row("nameless-co", "trial", 5, name=None),
    }


def _by_id(read_model: ReadModel, tenant_id: UUID) -> Any:
    row = read_model.get(tenant_id)
    assert row is not None, f"tenant {tenant_id} is missing from the read table"
    return row


def _expected(source: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The read row a source row must become: its own fields, and what §2 derives."""
    expected = {k: v for k, v in source.items() if k not in ("slug",)}
    expected["metadata"] = source["metadata"] or {}
    if source.get("trial_ends_at") is None:
        expected["trial_ends_at"] = local_midnight_after(
            source["created_at"], source["timezone"], settings.trial_days
        )
    if source.get("deleted_at") is not None:
        expected["purge_after"] = source["deleted_at"] + timedelta(days=settings.retention_days)
    if source["status"] == "paused" and source.get("paused_at") is None:
        expected["paused_at"] = source["updated_at"]
    if source["status"] == "active" and source.get("activated_at") is None:
        expected["activated_at"] = source["updated_at"]
    return expected


@pytest.mark.parametrize("workers", ["1", "2"])
def test_import_refuses_exactly_the_bad_rows_and_the_read_table_matches_the_source(
    settings: Settings, source_table: SourceTable, workers: str
) -> None:
    good = _good_rows()
    bad = _bad_rows(good)
    source_table.insert([*good, *bad.values()])

    run = run_import(
        settings, "--from", source_table.url, "--table", source_table.name, "--workers", workers
    )

    assert run.returncode == 0, run.stderr
    summary = run.summary
    assert summary["imported"] == len(good)
    assert summary["refused_by_reason"] == dict.fromkeys(sorted(bad), 1)
    refused = {r["tenant_id"]: r["reason"] for r in summary["refused_rows"]}
    assert refused == {str(row["id"]): reason for reason, row in bad.items()}
    assert summary["due_for_purge"] == 1
    assert "past retention" in run.stderr

    catch_up(settings)
    read_model = ReadModel(settings, FrozenClock(NOW))
    try:
        for source in good:
            row = _by_id(read_model, source["id"])
            for field, value in _expected(source, settings).items():
                assert getattr(row, field) == value, (source["slug"], field)
            assert row.version == 1
        derived = _by_id(read_model, good[-1]["id"])
        assert derived.slug == f"emile-fils-{good[-1]['id'].hex[:8]}"
        for source in good[:-1]:
            assert _by_id(read_model, source["id"]).slug == source["slug"]
        for source in bad.values():
            assert read_model.get(source["id"]) is None
    finally:
        read_model.close()
    registry = TenantRegistry(settings)
    try:
        histories = [registry.history(source["id"]) for source in good]
    finally:
        registry.close()
    # One import, one correlation id, whatever the number of share processes.
    assert len({e.correlation_id for (e,) in histories}) == 1
    assert histories[0][0].correlation_id is not None


def test_purge_sweep_after_an_import_erases_exactly_the_rows_past_retention(
    settings: Settings, source_table: SourceTable
) -> None:
    good = _good_rows()
    source_table.insert(good)
    assert run_import(settings, "--from", source_table.url, "--table", source_table.name).summary[
        "imported"
    ] == len(good)
    catch_up(settings)

    runtime = build_runtime(settings, FrozenClock(datetime.now(UTC)))
    try:
        counts = run_sweep("purge", runtime.registry, runtime.read_model)
        catch_up(settings)
        assert counts.changed == 1
        past = next(r for r in good if r["slug"] == "deleted-long-ago")
        kept = [r for r in good if r is not past]
        with pytest.raises(TenantGone):
            runtime.read_model.get(past["id"])
        assert all(runtime.read_model.get(r["id"]) is not None for r in kept)
        history = runtime.registry.history(kept[0]["id"])
        assert [(e.type, e.actor) for e in history] == [("TenantImported", "import")]
    finally:
        runtime.close()
    # The purged tenant's slug is free again; a rerun does not bring the tenant back.
    rerun = run_import(settings, "--from", source_table.url, "--table", source_table.name)
    assert rerun.summary["imported"] == 0
    assert rerun.summary["already_purged"] == 1
    assert rerun.summary["already_present"] == len(good) - 1


def test_second_run_imports_nothing_and_says_so(
    settings: Settings, source_table: SourceTable
) -> None:
    good = _good_rows()
    bad = _bad_rows(good)
    source_table.insert([*good, *bad.values()])
    args = ("--from", source_table.url, "--table", source_table.name)
    first = run_import(settings, *args)
    assert first.summary["imported"] == len(good)

    second = run_import(settings, *args)

    assert second.returncode == 0, second.stderr
    assert second.summary["imported"] == 0
    assert second.summary["already_present"] == len(good)
    assert second.summary["refused_by_reason"] == first.summary["refused_by_reason"]
    assert "nothing to import" in second.stderr


def test_dry_run_checks_every_row_and_writes_nothing(
    settings: Settings, source_table: SourceTable
) -> None:
    good = _good_rows()
    bad = _bad_rows(good)
    source_table.insert([*good, *bad.values()])

    run = run_import(
        settings, "--from", source_table.url, "--table", source_table.name, "--dry-run"
    )

    assert run.returncode == 0, run.stderr
    assert run.summary["dry_run"] is True
    assert run.summary["imported"] == len(good)
    assert run.summary["refused_by_reason"] == dict.fromkeys(sorted(bad), 1)
    runtime = build_runtime(settings)
    try:
        assert runtime.registry.head() == 0
    finally:
        runtime.close()


def test_slug_held_by_a_registered_tenant_is_refused_and_the_rest_imported(
    settings: Settings, source_table: SourceTable
) -> None:
    runtime = build_runtime(settings)
    try:
        holder = runtime.registry.register(slug="active-co", name="Here first", actor="test")
    finally:
        runtime.close()
    good = _good_rows()
    source_table.insert(good)

    run = run_import(
        settings, "--from", source_table.url, "--table", source_table.name, "--batch-size", "3"
    )

    assert run.summary["imported"] == len(good) - 1
    (refusal,) = run.summary["refused_rows"]
    assert refusal["reason"] == "slug-taken"
    assert str(holder.tenant.id) in refusal["detail"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--table", "no_such_table"), "the source has no table 'no_such_table'"),
        (("--map", "nope=name"), "the source has no column 'nope'"),
    ],
)
def test_a_source_that_cannot_be_read_as_asked_fails_in_one_line(
    settings: Settings, source_table: SourceTable, args: tuple[str, ...], reason: str
) -> None:
    run = run_import(settings, "--from", source_table.url, "--table", source_table.name, *args)
    assert run.returncode == 1
    assert reason in run.stderr
    assert "Traceback" not in run.stderr


def test_an_unreachable_source_fails_in_one_line(settings: Settings) -> None:
    run = run_import(settings, "--from", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert run.returncode == 1
    assert "cannot reach the source database" in run.stderr
    assert "Traceback" not in run.stderr
