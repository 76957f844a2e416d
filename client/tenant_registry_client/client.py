"""``TenantRegistryClient``: one typed method per route of the registry's HTTP API."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from uuid import UUID

import httpx

from tenant_registry_client import _calls as c
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
from tenant_registry_client.sse import Message, ServerSentEvent, parse

#: Read timeout of a stream: several heartbeats (15 s apart) missed means a dead connection.
STREAM_READ_TIMEOUT = 45.0


class TenantRegistryClient:
    """A synchronous client. Writes send a generated ``Idempotency-Key`` (reused on the
    client's own retries); connection errors, 503s and 409 ``idempotency-key-in-progress``
    are retried after ``Retry-After`` up to ``max_retries`` times. Thread-safe."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        limits: httpx.Limits | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            limits=limits or httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> TenantRegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands ----------------------------------------------------------------------------

    def register_tenant(
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
        return c.command_result(self._send(call))

    def update_tenant(
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
        return c.command_result(self._send(call))

    def _lifecycle(
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
        return c.command_result(self._send(call))

    def activate_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Payment confirmed: ``trial``, ``grace`` or ``paused`` become ``active``."""
        return self._lifecycle("activate", tenant_id, reason, if_match, idempotency_key)

    def start_grace_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Payment failed: an ``active`` tenant enters ``grace``."""
        return self._lifecycle("start-grace", tenant_id, reason, if_match, idempotency_key)

    def pause_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Suspend a ``trial``, ``active`` or ``grace`` tenant."""
        return self._lifecycle("pause", tenant_id, reason, if_match, idempotency_key)

    def cancel_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """End the subscription of a tenant."""
        return self._lifecycle("cancel", tenant_id, reason, if_match, idempotency_key)

    def reactivate_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Bring a ``cancelled`` tenant that is not deleted back to ``active``."""
        return self._lifecycle("reactivate", tenant_id, reason, if_match, idempotency_key)

    def delete_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Soft-delete a ``cancelled`` tenant (purged once its retention ends)."""
        return self._lifecycle("delete", tenant_id, reason, if_match, idempotency_key)

    def restore_tenant(
        self,
        tenant_id: UUID | str,
        *,
        reason: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Undo a soft delete while its retention lasts."""
        return self._lifecycle("restore", tenant_id, reason, if_match, idempotency_key)

    # -- reads -------------------------------------------------------------------------------

    def get_tenant(self, tenant_id: UUID | str, *, min_position: int | None = None) -> Tenant:
        """The tenant from the read side (``NotFound``; ``Gone`` once purged)."""
        params = c.optional(min_position=min_position)
        response = self._send(c.Call("GET", c.tenant_path(tenant_id), params))
        return Tenant.model_validate_json(response.content)

    def list_tenants_page(
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
        response = self._send(c.Call("GET", "/v1/tenants", params))
        return TenantPage.model_validate_json(response.content)

    def list_tenants(
        self,
        *,
        status: Status | None = None,
        plan: str | None = None,
        q: str | None = None,
        include_deleted: bool = False,
        page_size: int = 200,
        min_position: int | None = None,
    ) -> Iterator[Tenant]:
        """Every matching tenant, newest first, fetching pages as the iteration goes."""
        cursor: str | None = None
        while True:
            page = self.list_tenants_page(
                status=status,
                plan=plan,
                q=q,
                include_deleted=include_deleted,
                limit=page_size,
                cursor=cursor,
                min_position=min_position,
            )
            yield from page.data
            if page.next_cursor is None:
                return
            cursor, min_position = page.next_cursor, None

    def tenant_history(self, tenant_id: UUID | str) -> list[Event]:
        """The tenant's events in version order (``Gone`` once purged)."""
        response = self._send(c.Call("GET", c.tenant_path(tenant_id, "/events")))
        return History.model_validate_json(response.content).data

    def events_page(
        self, *, after: int = 0, limit: int = 100, types: Sequence[str] | None = None
    ) -> EventPage:
        """One page of the global event feed."""
        params = c.optional(after=after, limit=limit, type=c.types_param(types))
        response = self._send(c.Call("GET", "/v1/events", params))
        return EventPage.model_validate_json(response.content)

    def events(
        self, *, after: int = 0, types: Sequence[str] | None = None, page_size: int = 500
    ) -> Iterator[Event]:
        """Every event after ``after`` up to the head, page after page."""
        while True:
            page = self.events_page(after=after, limit=page_size, types=types)
            yield from page.data
            if not page.data:
                return
            after = page.next_after

    def changes_page(
        self, *, after: int = 0, limit: int = 500, min_position: int | None = None
    ) -> ChangePage:
        """One page of the changes feed (each tenant once, in its current state)."""
        response = self._send(self._changes_call(after, limit, min_position))
        return ChangePage.model_validate_json(response.content)

    def changes_page_raw(
        self, *, after: int = 0, limit: int = 1000, min_position: int | None = None
    ) -> dict[str, Any]:
        """One page of the changes feed as plain JSON (what a bulk loader wants: no models)."""
        document: dict[str, Any] = self._send(self._changes_call(after, limit, min_position)).json()
        return document

    def changes(self, *, after: int = 0, page_size: int = 1000) -> Iterator[Change]:
        """Every change after ``after`` up to the head, page after page."""
        while True:
            page = self.changes_page(after=after, limit=page_size)
            yield from page.data
            if not page.data:
                return
            after = page.next_after

    @staticmethod
    def _changes_call(after: int, limit: int, min_position: int | None) -> c.Call:
        params = c.optional(after=after, limit=limit, min_position=min_position)
        return c.Call("GET", "/v1/tenants/changes", params)

    def stats(self) -> Stats:
        """Counts by status from the read table."""
        return Stats.model_validate_json(self._send(c.Call("GET", "/v1/stats")).content)

    def projections(self) -> list[Projection]:
        """Health of every projection."""
        document = self._send(c.Call("GET", "/v1/projections")).json()
        return [Projection.model_validate(item) for item in document["data"]]

    # -- streams -----------------------------------------------------------------------------

    def stream_changes(self, *, after: int = 0) -> Iterator[Change]:
        """Changes after ``after``, then each new one as it lands (until closed)."""
        with self.open_stream("/v1/tenants/changes/stream", after=after) as messages:
            for message in messages:
                if isinstance(message, ServerSentEvent):
                    yield Change.model_validate_json(message.data)

    def stream_events(
        self, *, after: int = 0, types: Sequence[str] | None = None
    ) -> Iterator[Event]:
        """Events after ``after``, then each new one as it lands (until closed)."""
        with self.open_stream("/v1/events/stream", after=after, types=types) as messages:
            for message in messages:
                if isinstance(message, ServerSentEvent):
                    yield Event.model_validate_json(message.data)

    @contextmanager
    def open_stream(
        self, path: str, *, after: int = 0, types: Sequence[str] | None = None
    ) -> Iterator[EventStream]:
        """An open event stream, resumed with ``Last-Event-ID: after``; iterate it for its
        messages and heartbeats. Problems (``TooManyStreams``, ``Unauthorized``, …) raise at
        once; a dropped connection raises ``RegistryUnreachable`` from the iteration."""
        headers = {"Accept": "text/event-stream", "Last-Event-ID": str(after)}
        params = c.optional(after=after, type=c.types_param(types))
        timeout = httpx.Timeout(self._http.timeout.connect, read=STREAM_READ_TIMEOUT)
        try:
            with self._http.stream(
                "GET", path, params=params, headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise_for_problem(response)
                yield EventStream(response)
        except httpx.TransportError as exc:
            raise RegistryUnreachable(str(exc) or type(exc).__name__) from exc

    # -- transport ---------------------------------------------------------------------------

    def _send(self, call: c.Call) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.request(
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
            self._sleep(delay)
            attempt += 1


class EventStream:
    """The messages of an open stream; ``close()`` may be called from another thread to end a
    blocked read at once (it shuts the socket down)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[Message]:
        return parse(self._response.iter_lines())

    def close(self) -> None:
        """End the stream: the iterating thread gets ``RegistryUnreachable`` or stops."""
        stream = self._response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
