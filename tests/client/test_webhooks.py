"""``verify_webhook`` against the reference Standard Webhooks signer (``standardwebhooks``)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook
from tenant_registry_client import WebhookVerificationError, verify_webhook

BODY = json.dumps({"type": "TenantActivated", "timestamp": "2027-01-10T09:00:00Z", "data": {}})


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _signed(secret: str, body: str = BODY, at: float | None = None) -> dict[str, str]:
    stamp = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    signature = Webhook(secret).sign("msg_1", stamp, body)
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": signature,
    }


def test_a_delivery_signed_by_the_reference_signer_verifies_and_returns_the_body() -> None:
    secret = _secret()
    assert verify_webhook(_signed(secret), BODY.encode(), [secret]) == json.loads(BODY)


def test_header_names_are_case_insensitive() -> None:
    secret = _secret()
    headers = {name.title(): value for name, value in _signed(secret).items()}
    assert verify_webhook(headers, BODY, secret)["type"] == "TenantActivated"


def test_during_a_rotation_any_signature_made_with_any_known_secret_verifies() -> None:
    old, new = _secret(), _secret()
    headers = _signed(new)
    headers["webhook-signature"] = (
        _signed(old)["webhook-signature"] + " " + headers["webhook-signature"]
    )
    assert verify_webhook(headers, BODY, [new])
    assert verify_webhook(headers, BODY, [old])
    assert verify_webhook(_signed(old), BODY, [_secret(), old])


@pytest.mark.parametrize(
    "tamper",
    ["body", "id", "timestamp-old", "timestamp-future", "secret", "missing", "not-v1"],
)
def test_a_delivery_that_does_not_check_out_is_refused(tamper: str) -> None:
    secret = _secret()
    body = BODY
    headers = _signed(secret)
    secrets_known = [secret]
    if tamper == "body":
        body = BODY.replace("Activated", "Cancelled")
    elif tamper == "id":
        headers["webhook-id"] = "msg_2"
    elif tamper == "timestamp-old":
        headers = _signed(secret, at=time.time() - 301)
    elif tamper == "timestamp-future":
        headers = _signed(secret, at=time.time() + 301)
    elif tamper == "secret":
        secrets_known = [_secret()]
    elif tamper == "missing":
        del headers["webhook-signature"]
    else:
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    with pytest.raises(WebhookVerificationError):
        verify_webhook(headers, body, secrets_known)


def test_a_timestamp_just_within_five_minutes_is_accepted() -> None:
    secret = _secret()
    now = time.time()
    assert verify_webhook(_signed(secret, at=now - 290), BODY, secret, now=now)
