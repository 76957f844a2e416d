"""Standard Webhooks: secrets, message ids and signatures (https://www.standardwebhooks.com).

A signature is ``v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`` keyed with the
secret's decoded bytes; during a rotation each live secret adds one, space-separated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from uuid import UUID, uuid5

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
#: Message ids are derived from (endpoint, position): the same on every retry and replay.
_MESSAGE_NAMESPACE = UUID("1b0e6c55-34a4-4bb4-9d3c-6f1f1bdfa0a1")


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: its base64 part, decoded."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def message_id(endpoint_id: UUID, position: int) -> str:
    """The ``webhook-id`` of one event for one endpoint."""
    return "msg_" + uuid5(_MESSAGE_NAMESPACE, f"{endpoint_id}:{position}").hex


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<signature>`` entry."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one entry per live secret, space-separated."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets_)
