"""What the API asks of webhooks: endpoint management with the URL policy, and replays."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from application.registry import TenantRegistry
from common.settings import Settings
from webhooks.http import AddressRefused, allowed_address
from webhooks.policy import UrlRefused, check_url, unknown_event_types
from webhooks.signing import new_secret
from webhooks.store import Conn, Endpoint, NewDelivery, WebhookStore

#: Creation resolves the host to refuse private addresses early; a lookup slower than this
#: is left to the check every delivery makes.
RESOLVE_TIMEOUT = 2.0
REPLAY_PAGE = 500
URL_FIELD = "url"
TYPES_FIELD = "event_types"
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="resolve")


class EndpointRefused(ValueError):
    """An endpoint's fields break a rule: ``field`` and the message say which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def check_destination(url: str, *, allow_private: bool) -> None:
    """Refuse a URL whose form or (resolved) address breaks the policy."""
    try:
        _, host, port = check_url(url)
    except UrlRefused as exc:
        raise EndpointRefused(URL_FIELD, str(exc)) from None
    future = _resolver.submit(allowed_address, host, port, allow_private=allow_private)
    try:
        future.result(timeout=RESOLVE_TIMEOUT)
    except AddressRefused as exc:
        raise EndpointRefused(URL_FIELD, str(exc)) from None
    except (OSError, concurrent.futures.TimeoutError):
        pass  # unresolvable now: every delivery checks the address again


def _check_types(event_types: Sequence[str]) -> None:
    unknown = unknown_event_types(event_types)
    if unknown:
        msg = f"unknown event types: {', '.join(unknown)}"
        raise EndpointRefused(TYPES_FIELD, msg)


class WebhookService:
    """Endpoint management for the routes; every call takes the caller's connection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = WebhookStore(settings)

    def create(
        self,
        conn: Conn,
        *,
        url: str,
        event_types: Sequence[str],
        description: str,
        enabled: bool,
        now: datetime,
        head: int,
    ) -> Endpoint:
        check_destination(url, allow_private=self.settings.webhooks_allow_private)
        _check_types(event_types)
        return self.store.create_endpoint(
            conn,
            endpoint_id=uuid4(),
            url=url,
            event_types=sorted(set(event_types)),
            enabled=enabled,
            description=description,
            secret=new_secret(),
            now=now,
            head=head,
        )

    def update(
        self, conn: Conn, endpoint_id: UUID, changes: dict[str, Any], now: datetime
    ) -> Endpoint | None:
        if changes.get("url") is not None:
            check_destination(changes["url"], allow_private=self.settings.webhooks_allow_private)
        if changes.get("event_types") is not None:
            _check_types(changes["event_types"])
            changes["event_types"] = sorted(set(changes["event_types"]))
        changes = {k: v for k, v in changes.items() if v is not None}
        return self.store.update_endpoint(conn, endpoint_id, changes, now)

    def rotate(self, conn: Conn, endpoint_id: UUID, now: datetime) -> Endpoint | None:
        overlap = timedelta(seconds=self.settings.webhooks_secret_overlap_seconds)
        return self.store.rotate_secret(conn, endpoint_id, new_secret(), now, now + overlap)

    def replay(
        self, conn: Conn, registry: TenantRegistry, endpoint: Endpoint, after: int, now: datetime
    ) -> int:
        """New pending deliveries of every matching event after ``after`` that the dispatcher
        has already handled (later ones it will deliver anyway); return how many."""
        with conn.transaction():
            # Events up to the endpoint's start are never dispatched to it: replay those too.
            until = max(self.store.lock_cursor(conn, registry.head()), endpoint.after_position)
            created = 0
            while after < until:
                events = registry.feed(
                    after=after, limit=REPLAY_PAGE, types=tuple(endpoint.event_types)
                )
                new = [
                    NewDelivery(endpoint.id, e.position, e.tenant_id, e.type)
                    for e in events
                    if e.position <= until
                ]
                self.store.add_deliveries(conn, new, now)
                created += len(new)
                if len(events) < REPLAY_PAGE:
                    break
                after = events[-1].position
        return created
