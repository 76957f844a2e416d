"""``tenant-registry import --jsonl``: the same rows as JSON lines, with a column mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from common.clock import FrozenClock
from common.settings import Settings
from projections.queries import ReadModel
from projections.runner import catch_up
from tests.importing.conftest import run_import


def test_jsonl_rows_are_imported_with_mapped_columns_and_bad_lines_refused(
    settings: Settings, tmp_path: Path
) -> None:
    good, naive, late = uuid4(), uuid4(), uuid4()
    lines = [
        {
            "id": str(good),
            "company": "Acme Ltd",
            "slug": "acme",
            "status": "Active",
            "email": "Ops@Acme.Example",
            "created_at": "2026-01-02T03:04:05Z",
            "updated_at": "2026-02-01T00:00:00+02:00",
            "metadata": {"crm": "A-17"},
        },
        # A timestamp without a zone is read as UTC; no timezone: the default one.
        # The third row is created after the first and names its slug.
        {"id": str(naive), "company": "Naive", "status": "trial", "created_at": "2026-03-01T10:00"},
        {
            "id": str(late),
            "company": "Late",
            "slug": "acme",
            "status": "trial",
            "created_at": "2026-04-01T00:00:00Z",
        },
        {"id": "not-a-uuid", "company": "Nobody", "status": "trial", "created_at": "2026-01-01"},
    ]
    path = tmp_path / "tenants.jsonl"
    text = "\n".join(json.dumps(line) for line in lines)
    path.write_text(text + "\n{broken\n")

    run = run_import(settings, "--jsonl", str(path), "--map", "company=name")

    assert run.returncode == 0, run.stderr
    assert run.summary["imported"] == 2
    assert run.summary["refused_by_reason"] == {
        "duplicate-slug": 1,
        "invalid-id": 1,
        "unreadable": 1,
    }
    catch_up(settings)
    read_model = ReadModel(settings, FrozenClock(datetime.now(UTC)))
    try:
        acme = read_model.get(good)
        assert acme is not None
        assert (acme.name, acme.slug, acme.status) == ("Acme Ltd", "acme", "active")
        assert acme.contact_email == "Ops@acme.example"
        assert acme.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert acme.updated_at == datetime(2026, 1, 31, 22, 0, tzinfo=UTC)
        assert acme.activated_at == acme.updated_at  # entry into the status: derived
        assert acme.metadata == {"crm": "A-17"}
        other = read_model.get(naive)
        assert other is not None
        assert other.created_at == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
        assert other.timezone == settings.default_timezone
        assert other.slug == f"naive-{naive.hex[:8]}"
        assert read_model.get(late) is None
    finally:
        read_model.close()
