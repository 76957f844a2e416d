"""Checking a webhook delivery (SPEC §10, the Standard Webhooks scheme).

The signature is ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">``,
keyed with the decoded bytes of a ``whsec_<base64>`` secret; during a rotation the header holds
several, space-separated, and the receiver may know several secrets. The timestamp must be
within five minutes of now, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tenant_registry_client.errors import WebhookVerificationError

TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes | str,
    secrets: str | Sequence[str],
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """Return the delivery's parsed body if one of its signatures was made with one of
    ``secrets``; raise :class:`WebhookVerificationError` otherwise."""
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = _header(lowered, "webhook-id")
    stamp = _header(lowered, "webhook-timestamp")
    signatures = _header(lowered, "webhook-signature")
    _check_timestamp(stamp, time.time() if now is None else now)
    raw = body.encode() if isinstance(body, str) else body
    signed = f"{message_id}.{stamp}.".encode() + raw
    keys = [_key(secret) for secret in ([secrets] if isinstance(secrets, str) else secrets)]
    expected = [hmac.new(k, signed, hashlib.sha256).digest() for k in keys]
    if not any(
        hmac.compare_digest(candidate, wanted)
        for candidate in _v1_signatures(signatures)
        for wanted in expected
    ):
        msg = "no signature matches the secrets"
        raise WebhookVerificationError(msg)
    try:
        document = json.loads(raw)
    except ValueError:
        msg = "the body is not JSON"
        raise WebhookVerificationError(msg) from None
    if not isinstance(document, dict):
        msg = "the body is not a JSON object"
        raise WebhookVerificationError(msg)
    return document


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        msg = f"missing header {name}"
        raise WebhookVerificationError(msg)
    return value


def _check_timestamp(stamp: str, now: float) -> None:
    try:
        sent = int(stamp)
    except ValueError:
        msg = "webhook-timestamp is not Unix seconds"
        raise WebhookVerificationError(msg) from None
    if abs(now - sent) > TOLERANCE_SECONDS:
        msg = "webhook-timestamp is more than 5 minutes away"
        raise WebhookVerificationError(msg)


def _decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _key(secret: str) -> bytes:
    key = _decode(secret.removeprefix(SECRET_PREFIX))
    if not key:
        msg = "a secret is not whsec_<base64>"
        raise WebhookVerificationError(msg)
    return key


def _v1_signatures(header: str) -> list[bytes]:
    found = []
    for part in header.split():
        version, _, signature = part.partition(",")
        digest = _decode(signature) if version == "v1" else None
        if digest is not None:
            found.append(digest)
    return found
