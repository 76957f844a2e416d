"""A batch that fails as a whole (a slug claimed meanwhile) is saved row by row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID, uuid4

from application.import_lookup import Known
from application.import_sources import SourceRow
from application.importer import Candidate, Importer, batched_rows
from application.registry import TenantRegistry
from common.clock import FrozenClock


class RacingImporter(Importer):
    """Another writer registers ``slug`` right after each look-up, before the batch is saved."""

    def __init__(self, registry: TenantRegistry, slug: str) -> None:
        super().__init__(registry)
        self.slug = slug
        self.raced = False

    def _known(self, candidates: list[Candidate]) -> Known:
        known = super()._known(candidates)
        if not self.raced:
            self.raced = True
            self.registry.register(slug=self.slug, name="Quicker", actor="test")
        return known


def _rows(clock: FrozenClock, slugs: Sequence[str]) -> list[SourceRow]:
    created = clock.now() - timedelta(days=30)
    return [
        SourceRow(
            f"row {n}",
            {
                "id": str(uuid4()),
                "name": f"{slug} Ltd",
                "slug": slug,
                "status": "active",
                "created_at": created + timedelta(minutes=n),
            },
        )
        for n, slug in enumerate(slugs, start=1)
    ]


def test_batch_conflicting_with_a_concurrent_writer_saves_every_other_row(
    registry: TenantRegistry, clock: FrozenClock
) -> None:
    rows = _rows(clock, ["first", "raced", "third"])
    importer = RacingImporter(registry, "raced")

    summary = importer.run(batched_rows(rows, 10))

    assert summary.imported == 2
    assert dict(summary.refused) == {"slug-taken": 1}
    assert summary.refusals[0].where == "row 2"
    for row in (rows[0], rows[2]):
        tenant = registry.get_tenant(UUID(row.values["id"]))
        assert tenant.slug == row.values["slug"]
        assert [e.type for e in registry.history(tenant.id)] == ["TenantImported"]
