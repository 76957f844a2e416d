"""``/v1/webhooks``: endpoints, their secrets, delivery log and replays (admin scope)."""

import base64
import binascii
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from api.problems import ProblemError, validation_problem
from api.routers.common import Admin, Ctx, json_response, problems
from api.webhook_models import (
    DeliveryPage,
    DeliveryStatus,
    ReplayRequest,
    ReplayResult,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    WebhookUpdate,
)
from webhooks.service import EndpointRefused, WebhookService
from webhooks.signing import message_id
from webhooks.store import Endpoint

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

WebhookId = Annotated[UUID, Path(description="The endpoint's id.")]
ERRORS = (401, 403, 413, 415, 422, 503)
ONE_ERRORS = (401, 403, 404, 413, 415, 422, 503)


def _service(ctx: Ctx) -> WebhookService:
    return WebhookService(ctx.settings)  # composes a few statements: nothing to cache


def _document(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "enabled": endpoint.enabled,
        "description": endpoint.description,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "previous_secret_expires_at": endpoint.previous_secret_until,
    }


def _not_found() -> ProblemError:
    return ProblemError(404, "not-found", "no webhook endpoint has this id")


def _refused(exc: EndpointRefused) -> ProblemError:
    return validation_problem([(exc.field, exc.message)])


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    responses=problems(*ERRORS),
    summary="Create a webhook endpoint",
    operation_id="createWebhook",
)
def create_webhook(*, ctx: Ctx, _key: Admin, body: WebhookCreate) -> Response:
    """Register a receiver. The answer carries its signing `secret`, shown only here."""
    head = ctx.registry().head()
    with ctx.connection() as conn:
        try:
            endpoint = _service(ctx).create(
                conn,
                url=body.url,
                event_types=body.event_types,
                description=body.description,
                enabled=body.enabled,
                now=ctx.clock.now(),
                head=head,
            )
        except EndpointRefused as exc:
            raise _refused(exc) from None
    document = {**_document(endpoint), "secret": endpoint.secret}
    return json_response(document, 201, Location=f"/v1/webhooks/{endpoint.id}")


@router.get(
    "",
    response_model=WebhookList,
    responses=problems(401, 403, 503),
    summary="List webhook endpoints",
    operation_id="listWebhooks",
)
def list_webhooks(*, ctx: Ctx, _key: Admin) -> Response:
    """Every endpoint, oldest first (secrets are never shown)."""
    with ctx.connection() as conn:
        endpoints = _service(ctx).store.list_endpoints(conn)
    return json_response({"data": [_document(e) for e in endpoints]})


@router.get(
    "/{webhook_id}",
    response_model=WebhookOut,
    responses=problems(401, 403, 404, 422, 503),
    summary="Get a webhook endpoint",
    operation_id="getWebhook",
)
def get_webhook(*, ctx: Ctx, _key: Admin, webhook_id: WebhookId) -> Response:
    """One endpoint."""
    with ctx.connection() as conn:
        endpoint = _service(ctx).store.get_endpoint(conn, webhook_id)
    if endpoint is None:
        raise _not_found()
    return json_response(_document(endpoint))


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    responses=problems(*ONE_ERRORS),
    summary="Update a webhook endpoint",
    operation_id="updateWebhook",
)
def update_webhook(
    *, ctx: Ctx, _key: Admin, webhook_id: WebhookId, body: WebhookUpdate
) -> Response:
    """Change `url`, `event_types`, `enabled` or `description`."""
    changes = body.model_dump(exclude_unset=True)
    with ctx.connection() as conn:
        try:
            endpoint = _service(ctx).update(conn, webhook_id, changes, ctx.clock.now())
        except EndpointRefused as exc:
            raise _refused(exc) from None
    if endpoint is None:
        raise _not_found()
    return json_response(_document(endpoint))


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses=problems(401, 403, 404, 422, 503),
    summary="Delete a webhook endpoint",
    operation_id="deleteWebhook",
)
def delete_webhook(*, ctx: Ctx, _key: Admin, webhook_id: WebhookId) -> Response:
    """Delete an endpoint, its pending deliveries and its delivery log."""
    with ctx.connection() as conn:
        if not _service(ctx).store.delete_endpoint(conn, webhook_id):
            raise _not_found()
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=SecretRotated,
    responses=problems(401, 403, 404, 422, 503),
    summary="Rotate a webhook endpoint's secret",
    operation_id="rotateWebhookSecret",
)
def rotate_webhook_secret(*, ctx: Ctx, _key: Admin, webhook_id: WebhookId) -> Response:
    """A new secret (shown only here). The old one keeps signing beside it for 24 h, so
    deliveries carry two signatures meanwhile."""
    with ctx.connection() as conn:
        endpoint = _service(ctx).rotate(conn, webhook_id, ctx.clock.now())
    if endpoint is None:
        raise _not_found()
    return json_response(
        {
            "id": endpoint.id,
            "secret": endpoint.secret,
            "previous_secret_expires_at": endpoint.previous_secret_until,
        }
    )


def _decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        value = int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise validation_problem([("query.cursor", "is not a cursor of this list")]) from None
    if not 0 < value < 2**62:
        raise validation_problem([("query.cursor", "is not a cursor of this list")])
    return value


def _encode_cursor(delivery_id: int) -> str:
    return base64.urlsafe_b64encode(str(delivery_id).encode()).decode().rstrip("=")


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    responses=problems(401, 403, 404, 422, 503),
    summary="Delivery log of a webhook endpoint",
    operation_id="listWebhookDeliveries",
)
def list_webhook_deliveries(
    *,
    ctx: Ctx,
    _key: Admin,
    webhook_id: WebhookId,
    status: Annotated[DeliveryStatus | None, Query(description="Only this status.")] = None,
    cursor: Annotated[
        str | None, Query(max_length=40, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
) -> Response:
    """Deliveries, newest first: event position, attempts, the last HTTP status or error, its
    duration and the next attempt. Never the payload."""
    before = _decode_cursor(cursor)
    service = _service(ctx)
    with ctx.connection() as conn:
        if service.store.get_endpoint(conn, webhook_id) is None:
            raise _not_found()
        rows = service.store.deliveries_page(
            conn, webhook_id, status=status, before_id=before, limit=limit
        )
    data = [{**row, "webhook_id": message_id(webhook_id, row["position"])} for row in rows]
    for item in data:
        item.pop("endpoint_id", None)
    next_cursor = _encode_cursor(rows[-1]["id"]) if len(rows) == limit else None
    return json_response({"data": data, "next_cursor": next_cursor})


@router.post(
    "/{webhook_id}/replay",
    status_code=202,
    response_model=ReplayResult,
    responses=problems(*ONE_ERRORS),
    summary="Replay events to a webhook endpoint",
    operation_id="replayWebhook",
)
def replay_webhook(
    *, ctx: Ctx, _key: Admin, webhook_id: WebhookId, body: ReplayRequest
) -> Response:
    """Deliver again every matching event after position `after` (same `webhook-id`s as
    before, so receivers deduplicate)."""
    service = _service(ctx)
    registry = ctx.registry()
    with ctx.connection() as conn:
        endpoint = service.store.get_endpoint(conn, webhook_id)
        if endpoint is None:
            raise _not_found()
        count = service.replay(conn, registry, endpoint, body.after, ctx.clock.now())
    return json_response({"replayed": count}, 202)
