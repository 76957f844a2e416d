"""ReadModel queries: filters, search, cursor paging, stats, sweep candidates, waiting."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
import pytest

from application.documents import dumps, tenant_json
from application.registry import TenantRegistry
from common.clock import FrozenClock
from common.settings import Settings
from domain.errors import TenantGone
from domain.lifecycle import Command
from projections import queries, watch
from projections.queries import InvalidCursor, ReadModel, encode_cursor
from projections.runner import catch_up


def _register(registry: TenantRegistry, slug: str, name: str | None = None, **kw: Any) -> UUID:
    return registry.register(slug=slug, name=name or slug.title(), actor="test", **kw).tenant.id


def _all_pages(model: ReadModel, **filters: object) -> list[UUID]:
    seen: list[UUID] = []
    cursor = None
    while True:
        page = model.list(limit=2, cursor=cursor, **filters)  # type: ignore[arg-type]
        seen.extend(row.id for row in page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def test_list_filters_by_status_and_plan_and_hides_deleted_unless_asked(
    settings: Settings, registry: TenantRegistry, clock: FrozenClock, read_model: ReadModel
) -> None:
    trial = _register(registry, "trial-one", plan="pro")
    clock.advance(timedelta(seconds=1))
    active = _register(registry, "active-one")
    registry.run(Command.ACTIVATE, active, actor="test")
    clock.advance(timedelta(seconds=1))
    gone = _register(registry, "deleted-one", plan="pro")
    for command in (Command.CANCEL, Command.DELETE):
        registry.run(command, gone, actor="test")
    catch_up(settings)

    assert [r.id for r in read_model.list().items] == [active, trial]
    assert [r.id for r in read_model.list(include_deleted=True).items] == [gone, active, trial]
    assert [r.id for r in read_model.list(status="active").items] == [active]
    assert [r.id for r in read_model.list(plan="pro").items] == [trial]
    assert [r.id for r in read_model.list(plan="pro", include_deleted=True).items] == [gone, trial]
    assert read_model.list(status="cancelled").items == []
    assert read_model.list(status="no-such-status").items == []


def test_q_matches_name_substring_or_slug_prefix_with_wildcards_taken_literally(
    settings: Settings, registry: TenantRegistry, read_model: ReadModel
) -> None:
    percent = _register(registry, "percent", "Fully 100% Pure")
    underscore = _register(registry, "underscore", "Snake_Case Inc")
    backslash = _register(registry, "backslash", "Back\\Slash GmbH")
    plain = _register(registry, "acme-tools", "Plain Company")
    middle = _register(registry, "the-acme", "Other Company")
    catch_up(settings)

    def found(q: str) -> set[UUID]:
        return {row.id for row in read_model.list(q=q).items}

    assert found("%") == {percent}
    assert found("_") == {underscore}
    assert found("\\") == {backslash}
    assert found("100%") == {percent}
    assert found("e_c") == {underscore}
    assert found("PURE") == {percent}  # case-insensitive name
    assert found("ACME") == {plain}  # slug prefix, not substring: not "the-acme"
    assert found("company") == {plain, middle}
    assert found("x%y") == set()


def test_cursor_pages_give_every_tenant_once_while_others_register(
    settings: Settings, registry: TenantRegistry, clock: FrozenClock, read_model: ReadModel
) -> None:
    original = []
    for i in range(13):
        original.append(_register(registry, f"page-{i:02d}"))
        if i % 3 == 0:  # equal created_at for some: the id breaks the tie
            clock.advance(timedelta(seconds=1))
    catch_up(settings)

    seen: list[UUID] = []
    cursor = None
    for round_ in range(100):
        page = read_model.list(limit=3, cursor=cursor)
        seen.extend(row.id for row in page.items)
        clock.advance(timedelta(seconds=1))
        _register(registry, f"newcomer-{round_}")  # newer: lands before the cursor
        catch_up(settings)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(original)
    assert len(seen) == len(set(seen))


def test_garbage_cursors_are_refused(read_model: ReadModel) -> None:
    for bad in ("", "!!!", "bm90IGpzb24", "WzEsMiwzXQ", encode_cursor.__name__):
        with pytest.raises(InvalidCursor):
            read_model.list(cursor=bad or "=")


def test_stats_count_by_status_and_deleted_apart(
    settings: Settings, registry: TenantRegistry, read_model: ReadModel
) -> None:
    assert read_model.stats() == {
        "total": 0,
        "by_status": {"trial": 0, "active": 0, "grace": 0, "paused": 0, "cancelled": 0},
        "deleted": 0,
    }
    _register(registry, "stat-a")
    b = _register(registry, "stat-b")
    registry.run(Command.ACTIVATE, b, actor="test")
    c = _register(registry, "stat-c")
    registry.run(Command.CANCEL, c, actor="test")
    d = _register(registry, "stat-d")
    registry.run(Command.CANCEL, d, actor="test")
    registry.run(Command.DELETE, d, actor="test")
    catch_up(settings)
    assert read_model.stats() == {
        "total": 3,
        "by_status": {"trial": 1, "active": 1, "grace": 0, "paused": 0, "cancelled": 1},
        "deleted": 1,
    }


def test_due_finds_each_sweeps_candidates_in_id_order_with_keyset_paging(
    settings: Settings, registry: TenantRegistry, clock: FrozenClock, read_model: ReadModel
) -> None:
    trials = sorted(_register(registry, f"due-trial-{i}", trial_days=1) for i in range(5))
    paid = _register(registry, "paid", trial_days=1)
    registry.run(Command.ACTIVATE, paid, actor="test")
    later = _register(registry, "later", trial_days=30)
    in_grace = _register(registry, "in-grace")
    registry.run(Command.ACTIVATE, in_grace, actor="test")
    registry.run(Command.START_GRACE, in_grace, actor="test")
    doomed = _register(registry, "doomed")
    registry.run(Command.CANCEL, doomed, actor="test")
    registry.run(Command.DELETE, doomed, actor="test")
    catch_up(settings)
    now = clock.now()
    assert read_model.due("trials", now, 10) == []

    soon = now + timedelta(days=10)
    assert read_model.due("trials", soon, 10) == trials
    assert read_model.due("trials", soon, 2) == trials[:2]
    assert read_model.due("trials", soon, 10, after=trials[1]) == trials[2:]
    assert later not in read_model.due("trials", now + timedelta(days=20), 10)
    assert read_model.due("grace", soon, 10) == [in_grace]
    assert read_model.due("purge", soon, 10) == []
    assert read_model.due("purge", now + timedelta(days=90), 10) == [doomed]


def test_get_answers_none_for_unknown_and_gone_for_purged(
    settings: Settings, registry: TenantRegistry, clock: FrozenClock, read_model: ReadModel
) -> None:
    tenant = _register(registry, "short-lived")
    registry.run(Command.CANCEL, tenant, actor="test")
    registry.run(Command.DELETE, tenant, actor="test")
    catch_up(settings)
    row = read_model.get(tenant)
    assert row is not None
    assert row.deleted_at is not None
    clock.advance(timedelta(days=91))
    assert registry.purge(tenant) == "changed"
    catch_up(settings)
    with pytest.raises(TenantGone) as gone:
        read_model.get(tenant)
    assert gone.value.purged_at == clock.now()
    assert read_model.get(UUID(int=42)) is None
    assert read_model.list(include_deleted=True).items == []


def test_wait_for_position_wakes_on_the_projectors_notify(
    settings: Settings, registry: TenantRegistry, read_model: ReadModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # No periodic re-check within the test's horizon: only a notification can wake the waiter.
    monkeypatch.setattr(watch, "RECHECK_SECONDS", 60.0)
    target = registry.register(slug="waited-for", name="W", actor="test").position
    results: list[tuple[bool, float]] = []

    def waiter() -> None:
        started = time.monotonic()
        results.append((read_model.wait_for_position(target, 30.0), time.monotonic() - started))

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    assert results == []  # still waiting: nothing projected yet
    catch_up(settings)
    thread.join(timeout=30)
    ((reached, waited),) = results
    assert reached
    assert waited < 25  # woken by the notification, long before its timeout


def test_wait_for_position_gives_up_after_its_timeout(
    registry: TenantRegistry, read_model: ReadModel
) -> None:
    target = registry.register(slug="never-projected", name="N", actor="test").position
    assert read_model.wait_for_position(target, 0.3) is False
    assert read_model.wait_for_position(0, 0.1) is True


@pytest.mark.parametrize("window", [1, 3, 2_000])
def test_search_pages_are_in_list_order_whatever_path_finds_them(
    registry: TenantRegistry, clock: FrozenClock, read_model: ReadModel,
    monkeypatch: pytest.MonkeyPatch, window: int,
) -> None:  # fmt: skip
    monkeypatch.setattr(queries, "SEARCH_WINDOW", window)
    matching = []
    for i in range(12):
        clock.advance(timedelta(seconds=1))
        name = f"Match {i}" if i % 3 else f"Other {i}"
        tenant_id = _register(registry, f"search-{i:02d}", name)
        if i % 3:
            matching.append(tenant_id)
    catch_up(registry.settings)
    assert _all_pages(read_model, q="match") == list(reversed(matching))


def test_a_read_row_serialises_as_the_tenant_document_of_the_write_model(
    settings: Settings,
    registry: TenantRegistry,
    clock: FrozenClock,
    read_model: ReadModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The API writes read rows as they are (orjson serialises the dataclass): the bytes must
    be those of the write model's document, timestamps in UTC, in every field, even where
    the client's default time zone is not UTC (libpq sends ``PGTZ`` to the server)."""
    monkeypatch.setenv("PGTZ", "Asia/Jerusalem")  # the read model connects lazily, after this
    tenant_id = _register(
        registry,
        "shape-one",
        name="Shape Ünïcode",
        contact_email="ops@example.com",
        metadata={"n": 1, "flag": True, "nested": {"list": [1.5, None, "x"]}},
    )
    for command in (Command.ACTIVATE, Command.START_GRACE, Command.PAUSE, Command.CANCEL):
        clock.advance(timedelta(hours=1, microseconds=1))
        registry.run(command, tenant_id, actor="test")
    clock.advance(timedelta(hours=1))
    deleted = registry.run(Command.DELETE, tenant_id, actor="test").tenant
    catch_up(settings)

    row = read_model.get(tenant_id)
    assert row is not None
    (listed,) = read_model.list(include_deleted=True, status="cancelled").items
    written = tenant_json(deleted)
    assert dumps(row) == written
    assert dumps(listed) == written
    document = orjson.loads(written)
    assert None not in (document[f] for f in ("paused_at", "cancelled_at", "deleted_at"))
