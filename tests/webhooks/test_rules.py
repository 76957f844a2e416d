"""The webhook rules that need no I/O: URL policy, retry schedule, signatures."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from standardwebhooks.webhooks import Webhook

from webhooks.policy import UrlRefused, check_url, is_forbidden, next_attempt
from webhooks.signing import message_id, new_secret, signature_header

SPEC_DELAYS = [5, 60, 300, 1800, 7200, 28800, 86400]
NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.8",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fc00::5",
        "::ffff:127.0.0.1",
        "0.0.0.0",  # noqa: S104 - a forbidden destination, not a bind
        "100.64.0.1",
    ],
)
def test_internal_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http:///nohost",
        "https://u:p@example.com/",
        "http://example.com:99999/",
        "javascript:alert(1)",
        "http://exa mple.com/",
    ],
)
def test_only_plain_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_url(url)


def test_retries_follow_the_schedule_then_the_delivery_fails() -> None:
    waits = [next_attempt(n, SPEC_DELAYS, NOW) for n in range(1, 9)]
    assert waits[:7] == [NOW + timedelta(seconds=s) for s in SPEC_DELAYS]
    assert waits[7] is None


def test_signatures_verify_with_the_reference_implementation() -> None:
    old, new = new_secret(), new_secret()
    msg_id = message_id(uuid4(), 42)
    timestamp = int(NOW.timestamp())
    body = b'{"type":"TenantRegistered","data":{"name":"Acme \xc3\xa9"}}'
    header = signature_header([new, old], msg_id, timestamp, body)
    for secret in (old, new):
        reference = Webhook(secret)
        assert reference.sign(msg_id, NOW, body.decode()) in header.split(" ")


def test_a_message_id_is_the_same_for_one_endpoint_and_position() -> None:
    endpoint = uuid4()
    assert message_id(endpoint, 7) == message_id(endpoint, 7)
    assert message_id(endpoint, 7) != message_id(endpoint, 8)
    assert message_id(endpoint, 7) != message_id(uuid4(), 7)
