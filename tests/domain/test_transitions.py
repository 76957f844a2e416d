"""The lifecycle table is the one source: guards, ``allowed`` and no-ops follow from it."""

from __future__ import annotations

import pytest

from domain.lifecycle import COMMANDS, SWEEPS, TRANSITIONS, Command, Stage, Sweep
from domain.tenant import json_equal
from tests.domain.factories import T0, tenant_in

STAGES = {s.value: s for s in Stage}


def test_every_command_has_one_row_and_commands_keep_the_url_order() -> None:
    assert set(TRANSITIONS) == set(Command)
    assert [c.value for c in COMMANDS] == [
        "activate",
        "start-grace",
        "pause",
        "cancel",
        "reactivate",
        "delete",
        "restore",
    ]


@pytest.mark.parametrize("state", ["trial", "active", "grace", "paused", "cancelled", "deleted"])
def test_allowed_is_the_rows_whose_sources_hold_the_tenant(state: str) -> None:
    tenant = tenant_in(state)
    expected = tuple(c for c in COMMANDS if STAGES[state] in TRANSITIONS[c].sources)
    assert tenant.stage is STAGES[state]
    assert tenant.allowed_commands(T0) == expected


def test_a_command_is_never_both_a_move_and_a_no_op() -> None:
    for row in TRANSITIONS.values():
        assert not row.sources & row.no_op_at


def test_sweeps_are_named_with_their_actor() -> None:
    assert {s.actor for s in Sweep} == {"sweep:trials", "sweep:grace", "sweep:purge"}
    assert SWEEPS[Sweep.PURGE] == (Stage.DELETED, None)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, True, False),
        (0, False, False),
        ({"n": 1}, {"n": True}, False),
        ([1, {"x": 0}], [1, {"x": False}], False),
        ({"n": True}, {"n": True}, True),
        ({"n": 1}, {"n": 1.0}, True),
        ("1", 1, False),
        (None, None, True),
    ],
)
def test_values_compare_as_json_does(a: object, b: object, equal: bool) -> None:
    assert json_equal(a, b) is equal
