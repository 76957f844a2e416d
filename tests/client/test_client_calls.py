"""The client against a real ``serve``: typed calls, problems as exceptions, pages, retries."""

from __future__ import annotations

import asyncio
import itertools
import secrets

import httpx
import pytest
from tenant_registry_client import (
    AsyncTenantRegistryClient,
    InvalidTransition,
    NotFound,
    SlugTaken,
    TenantRegistryClient,
    Unauthorized,
    ValidationFailed,
    VersionMismatch,
)
from tenant_registry_client._calls import retry_delay

from tests.client.registry_processes import RunningRegistry


def _slug(prefix: str = "t") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def test_register_then_read_your_write_with_the_commands_position(
    api: TenantRegistryClient,
) -> None:
    result = api.register_tenant(_slug("acme"), "Acme Ltd", plan="pro", metadata={"crm": "A-1"})
    assert result.tenant.status == "trial"
    assert result.position > 0
    assert not result.replayed
    read = api.get_tenant(result.tenant.id, min_position=result.position)
    assert read == result.tenant


def test_lifecycle_commands_and_profile_update_return_the_tenant_after_them(
    api: TenantRegistryClient,
) -> None:
    tenant = api.register_tenant(_slug(), "Life").tenant
    assert api.activate_tenant(tenant.id).tenant.status == "active"
    assert api.start_grace_tenant(tenant.id).tenant.status == "grace"
    assert api.pause_tenant(tenant.id, reason="audit").tenant.status == "paused"
    updated = api.update_tenant(tenant.id, name="Life Two", contact_email=None)
    assert updated.tenant.name == "Life Two"
    assert api.cancel_tenant(tenant.id).tenant.status == "cancelled"
    deleted = api.delete_tenant(tenant.id).tenant
    assert deleted.deleted_at is not None
    restored = api.restore_tenant(tenant.id)
    assert restored.tenant.deleted_at is None
    assert api.reactivate_tenant(tenant.id).tenant.status == "active"
    history = api.tenant_history(tenant.id)
    assert [e.version for e in history] == list(range(1, len(history) + 1))
    assert history[0].type == "TenantRegistered"


def test_a_refused_command_raises_invalid_transition_with_allowed_and_current_status(
    api: TenantRegistryClient,
) -> None:
    tenant = api.register_tenant(_slug(), "Trial").tenant
    with pytest.raises(InvalidTransition) as refused:
        api.reactivate_tenant(tenant.id)
    assert refused.value.status == 409
    assert refused.value.current_status == "trial"
    assert refused.value.allowed == ["activate", "pause", "cancel"]


def test_if_match_with_another_version_raises_version_mismatch(
    api: TenantRegistryClient,
) -> None:
    tenant = api.register_tenant(_slug(), "Versioned").tenant
    with pytest.raises(VersionMismatch):
        api.activate_tenant(tenant.id, if_match=tenant.version + 5)
    assert api.activate_tenant(tenant.id, if_match=tenant.version).tenant.version == 2


def test_problems_become_their_own_exception_classes(
    api: TenantRegistryClient, registry_server: RunningRegistry
) -> None:
    slug = _slug()
    api.register_tenant(slug, "First")
    with pytest.raises(SlugTaken):
        api.register_tenant(slug, "Second")
    with pytest.raises(NotFound):
        api.get_tenant("00000000-0000-4000-8000-000000000000")
    with pytest.raises(ValidationFailed) as invalid:
        api.register_tenant("X", "Bad slug")
    assert invalid.value.errors
    with (
        TenantRegistryClient(registry_server.url, "nope") as stranger,
        pytest.raises(Unauthorized),
    ):
        stranger.stats()


def test_list_and_feed_methods_iterate_across_pages(api: TenantRegistryClient) -> None:
    plan = f"p{secrets.token_hex(3)}"
    ids = {api.register_tenant(_slug(), "Paged", plan=plan).tenant.id for _ in range(5)}
    last = api.register_tenant(_slug(), "Paged", plan=plan)
    ids.add(last.tenant.id)
    listed = list(api.list_tenants(plan=plan, page_size=2, min_position=last.position))
    assert {t.id for t in listed} == ids
    assert len(listed) == 6
    events = list(api.events(page_size=3))
    assert {e.tenant_id for e in events} >= ids
    positions = [e.position for e in events]
    assert positions == sorted(set(positions))


def test_stats_and_projections_are_typed(api: TenantRegistryClient) -> None:
    api.register_tenant(_slug(), "Counted")
    stats = api.stats()
    assert set(stats.by_status) == {"trial", "active", "grace", "paused", "cancelled"}
    assert any(p.name == "tenants" for p in api.projections())


class _LosesFirstAnswer(httpx.BaseTransport):
    """A network that delivers the first request but loses its answer (a dropped
    connection after the server committed): the client must retry with the same key."""

    def __init__(self) -> None:
        self._real = httpx.HTTPTransport()
        self._calls = itertools.count()
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.keys.append(request.headers.get("Idempotency-Key"))
        response = self._real.handle_request(request)
        if next(self._calls) == 0:
            response.read()
            response.close()
            msg = "connection reset after the request was processed"
            raise httpx.ReadError(msg, request=request)
        return response

    def close(self) -> None:
        self._real.close()


def test_a_write_whose_answer_is_lost_is_retried_with_the_same_idempotency_key(
    registry_server: RunningRegistry, admin_key: str
) -> None:
    network = _LosesFirstAnswer()
    with TenantRegistryClient(
        registry_server.url, admin_key, transport=network, sleep=lambda _: None
    ) as client:
        result = client.register_tenant(_slug(), "Once")
    assert len(network.keys) == 2
    assert network.keys[0] is not None
    assert network.keys[0] == network.keys[1]
    assert result.replayed
    assert result.tenant.version == 1


def _answer(status: int, problem: str | None, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after else {}
    if problem is None:
        return httpx.Response(status, headers=headers)
    body = {"type": f"https://tenant-registry.dev/problems/{problem}", "status": status}
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("response", "delay"),
    [
        (_answer(503, "unavailable", "2"), 2.0),
        (_answer(503, "projection-lagging", "1"), 1.0),
        (_answer(409, "idempotency-key-in-progress", "1"), 1.0),
        (_answer(409, "invalid-transition"), None),
        (_answer(503, "unavailable", "3600"), None),
        (_answer(422, "validation-error"), None),
        (_answer(503, None), 0.2),
    ],
)
def test_only_unavailable_lagging_and_in_progress_answers_are_retried_after_retry_after(
    response: httpx.Response, delay: float | None
) -> None:
    assert retry_delay(response, 0) == delay


def test_the_async_client_offers_the_same_calls(
    registry_server: RunningRegistry, admin_key: str
) -> None:
    async def scenario() -> None:
        async with AsyncTenantRegistryClient(registry_server.url, admin_key) as client:
            plan = f"a{secrets.token_hex(3)}"
            created = [await client.register_tenant(_slug(), "Async", plan=plan) for _ in range(3)]
            head = created[-1].position
            tenant = created[0].tenant
            assert (await client.get_tenant(tenant.id, min_position=head)) == tenant
            listed = [t.id async for t in client.list_tenants(plan=plan, page_size=2)]
            assert sorted(listed) == sorted(c.tenant.id for c in created)
            with pytest.raises(InvalidTransition) as refused:
                await client.reactivate_tenant(tenant.id)
            assert refused.value.current_status == "trial"
            registered = {e.tenant_id async for e in client.events(types=["TenantRegistered"])}
            assert registered >= {c.tenant.id for c in created}

    asyncio.run(scenario())
