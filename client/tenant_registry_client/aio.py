"""``AsyncTenantRegistryClient``: the methods of ``TenantRegistryClient``, for asyncio.

Keep it in step with :mod:`tenant_registry_client.client` (the test suite calls both the
same way); request building and the retry policy are shared in
:mod:`tenant_registry_client._calls`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import httpx

from tenant_registry_client import _calls as c
from tenant_registry_client.client import STREAM_READ_TIMEOUT
from tenant_registry_client.errors import RegistryUnreachable, raise_for_problem
from tenant_registry_client.models import (
    Change,
    ChangePage,
    CommandResult,
    Event,
    EventPage,
    History,
    Projection,
    Stats,
    Status,
    Tenant,
    TenantPage,
)
from tenant_registry_client.sse import Message, ServerSentEvent, aparse


class AsyncTenantRegistryClient:
    """An asyncio client. Writes send a generated ``Idempotency-Key`` (reused on the
    client's own retries); connection errors, 503s and 409 ``idempotency-key-in-progress``
    are retried after ``Retry-After`` up to ``max_retries`` times."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        limits: httpx.Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            limits=limits or httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncTenantRegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- commands ----------------------------------------------------------------------------

    async def register_tenant(
        self,
        slug: str,
        name: str,
        *,
        timezone: str | None = None,
        plan: str | None = None,
        contact_email: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        trial_days: int | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Register a tenant (it starts in ``trial``)."""
        body = c.register_body(
            slug,
            name,
            timezone=timezone,
            plan=plan,
            contact_email=contact_email,
            metadata=metadata,
            trial_days=trial_days,
            reason=reason,
        )
        call = c.write("POST", "/v1/tenants", body, idempotency_key=idempotency_key)
        return c.command_result(await self._send(call))

    async def update_tenant(
        self,
        tenant_id: UUID | str,
        *,
        name: str = c.UNSET,
        timezone: str = c.UNSET,
        plan: str = c.UNSET,
        contact_email: str | None = c.UNSET,
        metadata: Mapping[str, Any] = c.UNSET,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Change profile fields (those given); ``contact_email=None`` removes the address."""
        body = c.profile_body(
            reason,
            name=name,
            timezone=timezone,
            plan=plan,
            contact_email=contact_email,
            metadata=metadata if metadata is c.UNSET else dict(metadata),
        )
        path = c.tenant_path(tenant_id)
        call = c.write("PATCH", path, body, if_match=if_match, idempotency_key=idempotency_key)
        return c.command_result(await self._send(call))

    async def _lifecycle(
        self,
        command: str,
        tenant_id: UUID | str,
        reason: str | None,
        if_match: int | None,
        idempotency_key: str | None,
    ) -> CommandResult:
        if command == "delete":
            method, path = "DELETE", c.tenant_path(tenant_id)
        else:
            method, path = "POST", c.tenant_path(tenant_id, f"/{command}")
        call = c.write(
            method, path, c.reason_body(reason), if_match=if_match, idempotency_key=idempotency_key
        )
        return c.command_result(await self._send(call))

    async def activate_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Payment confirmed: ``trial``, ``grace`` or ``paused`` become ``active``."""
        return await self._lifecycle("activate", tenant_id, reason, if_match, idempotency_key)

    async def start_grace_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Payment failed: an ``active`` tenant enters ``grace``."""
        return await self._lifecycle("start-grace", tenant_id, reason, if_match, idempotency_key)

    async def pause_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Suspend a ``trial``, ``active`` or ``grace`` tenant."""
        return await self._lifecycle("pause", tenant_id, reason, if_match, idempotency_key)

    async def cancel_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """End the subscription of a tenant."""
        return await self._lifecycle("cancel", tenant_id, reason, if_match, idempotency_key)

    async def reactivate_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Bring a ``cancelled`` tenant that is not deleted back to ``active``."""
        return await self._lifecycle("reactivate", tenant_id, reason, if_match, idempotency_key)

    async def delete_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Soft-delete a ``cancelled`` tenant (purged once its retention ends)."""
        return await self._lifecycle("delete", tenant_id, reason, if_match, idempotency_key)

    async def restore_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Undo a soft delete while its retention lasts."""
        return await self._lifecycle("restore", tenant_id, reason, if_match, idempotency_key)

    # -- reads -------------------------------------------------------------------------------

    async def get_tenant(self, tenant_id: UUID | str, *, min_position: int | None = None) -> Tenant:
        """The tenant from the read side (``NotFound``; ``Gone`` once purged)."""
        params = c.optional(min_position=min_position)
        response = await self._send(c.Call("GET", c.tenant_path(tenant_id), params))
        return Tenant.model_validate_json(response.content)

    async def list_tenants_page(
        self,
        *,
        status: Status | None = None,
        plan: str | None = None,
        q: str | None = None,
        include_deleted: bool = False,
        limit: int = 50,
        cursor: str | None = None,
        min_position: int | None = None,
    ) -> TenantPage:
        """One page of tenants, newest first."""
        params = c.optional(
            status=status,
            plan=plan,
            q=q,
            include_deleted=include_deleted,
            limit=limit,
            cursor=cursor,
            min_position=min_position,
        )
        response = await self._send(c.Call("GET", "/v1/tenants", params))
        return TenantPage.model_validate_json(response.content)

    async def list_tenants(
        self,
        *,
        status: Status | None = None,
        plan: str | None = None,
        q: str | None = None,
        include_deleted: bool = False,
        page_size: int = 200,
        min_position: int | None = None,
    ) -> AsyncIterator[Tenant]:
        """Every matching tenant, newest first, fetching pages as the iteration goes."""
        cursor: str | None = None
        while True:
            page = await self.list_tenants_page(
                status=status,
                plan=plan,
                q=q,
                include_deleted=include_deleted,
                limit=page_size,
                cursor=cursor,
                min_position=min_position,
            )
            for item in page.data:
                yield item
            if page.next_cursor is None:
                return
            cursor, min_position = page.next_cursor, None

    async def tenant_history(self, tenant_id: UUID | str) -> list[Event]:
        """The tenant's events in version order (``Gone`` once purged)."""
        response = await self._send(c.Call("GET", c.tenant_path(tenant_id, "/events")))
        return History.model_validate_json(response.content).data

    async def events_page(
        self, *, after: int = 0, limit: int = 100, types: Sequence[str] | None = None
    ) -> EventPage:
        """One page of the global event feed."""
        params = c.optional(after=after, limit=limit, type=c.types_param(types))
        response = await self._send(c.Call("GET", "/v1/events", params))
        return EventPage.model_validate_json(response.content)

    async def events(
        self, *, after: int = 0, types: Sequence[str] | None = None, page_size: int = 500
    ) -> AsyncIterator[Event]:
        """Every event after ``after`` up to the head, page after page."""
        while True:
            page = await self.events_page(after=after, limit=page_size, types=types)
            for item in page.data:
                yield item
            if not page.data:
                return
            after = page.next_after

    async def changes_page(
        self, *, after: int = 0, limit: int = 500, min_position: int | None = None
    ) -> ChangePage:
        """One page of the changes feed (each tenant once, in its current state)."""
        response = await self._send(self._changes_call(after, limit, min_position))
        return ChangePage.model_validate_json(response.content)

    async def changes_page_raw(
        self, *, after: int = 0, limit: int = 1000, min_position: int | None = None
    ) -> dict[str, Any]:
        """One page of the changes feed as plain JSON (what a bulk loader wants: no models)."""
        response = await self._send(self._changes_call(after, limit, min_position))
        document: dict[str, Any] = response.json()
        return document

    async def changes(self, *, after: int = 0, page_size: int = 1000) -> AsyncIterator[Change]:
        """Every change after ``after`` up to the head, page after page."""
        while True:
            page = await self.changes_page(after=after, limit=page_size)
            for item in page.data:
                yield item
            if not page.data:
                return
            after = page.next_after

    @staticmethod
    def _changes_call(after: int, limit: int, min_position: int | None) -> c.Call:
        params = c.optional(after=after, limit=limit, min_position=min_position)
        return c.Call("GET", "/v1/tenants/changes", params)

    async def stats(self) -> Stats:
        """Counts by status from the read table."""
        response = await self._send(c.Call("GET", "/v1/stats"))
        return Stats.model_validate_json(response.content)

    async def projections(self) -> list[Projection]:
        """Health of every projection."""
        response = await self._send(c.Call("GET", "/v1/projections"))
        document = response.json()
        return [Projection.model_validate(item) for item in document["data"]]

    # -- streams -----------------------------------------------------------------------------

    async def stream_changes(self, *, after: int = 0) -> AsyncIterator[Change]:
        """Changes after ``after``, then each new one as it lands (until closed)."""
        async with self.open_stream("/v1/tenants/changes/stream", after=after) as messages:
            async for message in messages:
                if isinstance(message, ServerSentEvent):
                    yield Change.model_validate_json(message.data)

    async def stream_events(
        self, *, after: int = 0, types: Sequence[str] | None = None
    ) -> AsyncIterator[Event]:
        """Events after ``after``, then each new one as it lands (until closed)."""
        async with self.open_stream("/v1/events/stream", after=after, types=types) as messages:
            async for message in messages:
                if isinstance(message, ServerSentEvent):
                    yield Event.model_validate_json(message.data)

    @asynccontextmanager
    async def open_stream(
        self, path: str, *, after: int = 0, types: Sequence[str] | None = None
    ) -> AsyncIterator[AsyncIterator[Message]]:
        """An open event stream, resumed with ``Last-Event-ID: after``; yields its messages
        and heartbeats. Problems (``TooManyStreams``, ``Unauthorized``, …) raise at once."""
        headers = {"Accept": "text/event-stream", "Last-Event-ID": str(after)}
        params = c.optional(after=after, type=c.types_param(types))
        timeout = httpx.Timeout(self._http.timeout.connect, read=STREAM_READ_TIMEOUT)
        try:
            async with self._http.stream(
                "GET", path, params=params, headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise_for_problem(response)
                yield aparse(response.aiter_lines())
        except httpx.TransportError as exc:
            raise RegistryUnreachable(str(exc) or type(exc).__name__) from exc

    # -- transport ---------------------------------------------------------------------------

    async def _send(self, call: c.Call) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, params=call.params, json=call.body, headers=call.headers
                )
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise RegistryUnreachable(str(exc) or type(exc).__name__) from exc
                delay = c.backoff(attempt)
            else:
                retry = c.retry_delay(response, attempt) if attempt < self.max_retries else None
                if retry is None:
                    raise_for_problem(response)
                    return response
                delay = retry
            await self._sleep(delay)
            attempt += 1
