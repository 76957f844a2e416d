"""Helpers of the webhook tests: endpoints, tenants, delivery rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from psycopg import sql

from application.registry import TenantRegistry
from common.db import connect
from common.settings import Settings
from common.tables import WEBHOOK_DELIVERIES_TABLE
from domain.lifecycle import Command
from webhooks.service import WebhookService
from webhooks.store import Endpoint

NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def add_endpoint(
    settings: Settings, url: str, event_types: Sequence[str] = (), *, check: bool = True
) -> Endpoint:
    """An endpoint as the API would create it (``check=False`` skips the URL policy, to see
    that deliveries apply it again)."""
    service = WebhookService(settings.model_copy(update={"webhooks_allow_private": True}))
    with connect(settings) as conn:
        head = 0
        if not check:
            return service.store.create_endpoint(
                conn,
                endpoint_id=uuid4(),
                url=url,
                event_types=list(event_types),
                enabled=True,
                description="",
                secret="whsec_" + "A" * 43 + "=",
                now=NOW,
                head=head,
            )
        return service.create(
            conn,
            url=url,
            event_types=event_types,
            description="test",
            enabled=True,
            now=NOW,
            head=head,
        )


def deliveries(settings: Settings) -> list[dict[str, Any]]:
    """Every delivery row."""
    with connect(settings) as conn:
        return conn.execute(
            sql.SQL("SELECT * FROM {} ORDER BY id").format(
                sql.Identifier(settings.db_schema, WEBHOOK_DELIVERIES_TABLE)
            )
        ).fetchall()


def lifecycle(registry: TenantRegistry, slug: str, **fields: Any) -> UUID:
    """Register a tenant and move it through a few commands (four events)."""
    tenant_id = registry.register(slug=slug, name=f"{slug} Ltd", actor="test", **fields).tenant.id
    for command in (Command.ACTIVATE, Command.PAUSE, Command.CANCEL):
        registry.run(command, tenant_id, actor="test")
    return tenant_id
