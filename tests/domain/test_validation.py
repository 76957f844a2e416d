"""Bad input is refused with every problem named, and creates nothing."""

from __future__ import annotations

import pytest

from domain.errors import ValidationFailed
from tests.domain.factories import ACTOR, T0, new_tenant, tenant_in


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", "ab"),
        ("slug", "-acme"),
        ("slug", "acme-"),
        ("slug", "Acme"),
        ("slug", "a" * 64),
        ("slug", "acme_co"),
        ("slug", "acme'; drop table tenants;--"),
        ("name", "   "),
        ("name", "x" * 201),
        ("name", "bad\x00name"),
        ("name", "tab\tinside"),
        ("name", "lone \ud800 surrogate"),
        ("name", 42),
        ("timezone", "Mars/Olympus"),
        ("timezone", "../../etc/passwd"),
        ("plan", "Gold"),
        ("plan", "x" * 41),
        ("plan", ""),
        ("contact_email", "not-an-email"),
        ("contact_email", "a@b"),
        ("contact_email", "a@@b.example"),
        ("contact_email", "ünicode@example.com"),
        ("metadata", []),
        ("metadata", {str(i): i for i in range(51)}),
        ("metadata", {"k" * 41: 1}),
        ("metadata", {"big": "x" * 9000}),
        ("metadata", {"nan": float("nan")}),
        ("metadata", {"huge": 2**70}),
        ("metadata", {"deep": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}),
        ("trial_days", 0),
        ("trial_days", 91),
        ("trial_days", True),
        ("trial_days", "14"),
    ],
)
def test_invalid_field_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationFailed) as refused:
        new_tenant(T0, **{field: value})
    assert [e.field for e in refused.value.errors] == [field]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as refused:
        new_tenant(slug="X", name="", plan="BAD")
    assert {e.field for e in refused.value.errors} == {"slug", "name", "plan"}


def test_name_is_trimmed_and_email_domain_lowercased() -> None:
    tenant = new_tenant(name="  Acme  ", contact_email="Ops.Team@Acme.EXAMPLE")
    assert tenant.name == "Acme"
    assert tenant.contact_email == "Ops.Team@acme.example"


def test_unicode_names_and_metadata_are_kept() -> None:
    tenant = new_tenant(name="שלום עולם 🚀", metadata={"ключ": ["ü", None, 1.5, True]})
    assert tenant.name == "שלום עולם 🚀"
    assert tenant.metadata == {"ключ": ["ü", None, 1.5, True]}


def test_profile_update_records_only_changed_fields() -> None:
    tenant = tenant_in("active")
    tenant.update_profile(now=T0, actor=ACTOR, name="Acme Ltd", plan="gold", contact_email=None)
    (event,) = tenant.collect_events()
    assert event.changes == {"plan": "gold", "contact_email": None}  # type: ignore[attr-defined]
    assert (tenant.plan, tenant.contact_email) == ("gold", None)


def test_profile_update_without_changes_records_nothing() -> None:
    tenant = tenant_in("active")
    tenant.update_profile(now=T0, actor=ACTOR, name=" Acme Ltd ", metadata={"tier": 1})
    assert tenant.collect_events() == []


def test_invalid_profile_update_changes_nothing() -> None:
    tenant = tenant_in("active")
    with pytest.raises(ValidationFailed):
        tenant.update_profile(now=T0, actor=ACTOR, name="Fine", timezone="Nowhere/City")
    assert tenant.name == "Acme Ltd"
    assert tenant.collect_events() == []


def test_reason_with_control_characters_is_refused() -> None:
    tenant = tenant_in("trial")
    with pytest.raises(ValidationFailed):
        tenant.pause(now=T0, actor=ACTOR, reason="bad\x07")
    assert tenant.status.value == "trial"
