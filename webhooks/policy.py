"""The webhook rules that need no I/O: URL policy, event types, the retry schedule."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from domain.tenant import TENANT_TOPICS

#: Every event type an endpoint may subscribe to (the feed's types).
EVENT_TYPES: frozenset[str] = frozenset(TENANT_TOPICS)

MAX_URL_LENGTH = 2048

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """A webhook URL breaks the outbound policy; the message says which rule."""


def check_url(url: str) -> tuple[str, str, int]:
    """The URL's scheme, host and port, if its form is acceptable (else :class:`UrlRefused`)."""
    if len(url) > MAX_URL_LENGTH:
        msg = f"must be at most {MAX_URL_LENGTH} characters"
        raise UrlRefused(msg)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        msg = "is not a valid URL"
        raise UrlRefused(msg) from None
    if parts.scheme not in ("http", "https"):
        msg = "must be an http or https URL"
        raise UrlRefused(msg)
    if not parts.hostname:
        msg = "must name a host"
        raise UrlRefused(msg)
    if parts.username is not None or parts.password is not None:
        msg = "must not carry credentials"
        raise UrlRefused(msg)
    if any(c.isspace() or ord(c) < 32 for c in url):
        msg = "must not contain spaces or control characters"
        raise UrlRefused(msg)
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def literal_address(host: str) -> IpAddress | None:
    """The host as an IP address, if it is one."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_forbidden(address: IpAddress) -> bool:
    """Whether a receiver at this address would reach inside our network."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
    )


def unknown_event_types(types: Sequence[str]) -> list[str]:
    """The names in ``types`` that are not event types (empty: all are known)."""
    return sorted(set(types) - EVENT_TYPES)


def matches(event_types: Sequence[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``event_types`` (empty: all) gets ``event_type``."""
    return not event_types or event_type in event_types


def next_attempt(attempts_made: int, delays: Sequence[float], now: datetime) -> datetime | None:
    """When to try again after ``attempts_made`` failed attempts; None when it has failed.

    The first attempt is immediate; retry ``n`` waits ``delays[n - 1]`` seconds after the
    failure before it (SPEC §10: about 5 s, 1 min, 5 min, 30 min, 2 h, 8 h, 24 h).
    """
    if attempts_made > len(delays):
        return None
    return now + timedelta(seconds=delays[attempts_made - 1])
