"""The outbound POST of a delivery: checked address, pinned connection, bounded in time.

The host is resolved once; if any address it resolves to is loopback, private or link-local
(and those are not allowed) nothing is sent. Otherwise the connection goes to the checked
address itself (TLS still verifies the host name), so a second lookup cannot swap in another
address. Redirects are not followed (a 3xx is a failed attempt); the response body is read
and dropped, never stored.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from webhooks.policy import IpAddress, UrlRefused, check_url, is_forbidden, literal_address

USER_AGENT = "tenant-registry-webhooks/1"
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: an HTTP status, or an error name; and how long it took."""

    status_code: int | None
    error: str | None
    seconds: float

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class AddressRefused(Exception):
    """The host resolves to an address the policy refuses."""


def resolve(host: str, port: int) -> list[IpAddress]:
    """Every address ``host`` resolves to (a literal address is itself)."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IpAddress] = []
    for info in infos:
        address = literal_address(str(info[4][0]).split("%", 1)[0])
        if address is not None and address not in found:
            found.append(address)
    return found


def allowed_address(host: str, port: int, *, allow_private: bool) -> IpAddress:
    """The address to connect to, if every address of ``host`` is allowed."""
    addresses = resolve(host, port)
    if not addresses:
        msg = "the host resolves to no address"
        raise AddressRefused(msg)
    if not allow_private and any(is_forbidden(a) for a in addresses):
        msg = "the host resolves to a loopback, private or link-local address"
        raise AddressRefused(msg)
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._ssl_context = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._ssl_context)
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ssl_context.wrap_socket(raw, server_hostname=self.host)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    connect_timeout: float,
    total_timeout: float,
) -> Attempt:
    """POST ``body`` to ``url``; never raises for what the receiver or network does."""
    started = time.monotonic()
    try:
        scheme, host, port = check_url(url)
        address = allowed_address(host, port, allow_private=allow_private)
    except (UrlRefused, AddressRefused):
        return Attempt(None, "address-refused", time.monotonic() - started)
    except OSError:
        return Attempt(None, "dns-error", time.monotonic() - started)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kind = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    conn = kind(host, port, str(address), timeout=min(connect_timeout, total_timeout))
    # The total timeout: whatever the receiver does (drips bytes, never answers), the socket
    # is shut at the deadline.
    timer = threading.Timer(total_timeout, _shut, args=(conn,))
    timer.daemon = True
    timer.start()
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(total_timeout)
        conn.request("POST", target, body, {**headers, "User-Agent": USER_AGENT})
        response = conn.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        status = response.status
    except TimeoutError:
        return Attempt(None, "timeout", time.monotonic() - started)
    except ssl.SSLError:
        return Attempt(None, "tls-error", time.monotonic() - started)
    except ConnectionRefusedError:
        return Attempt(None, "connection-refused", time.monotonic() - started)
    except (OSError, http.client.HTTPException):
        elapsed = time.monotonic() - started
        error = "timeout" if elapsed >= total_timeout else "connection-error"
        return Attempt(None, error, elapsed)
    finally:
        timer.cancel()
        conn.close()
    return Attempt(status, None, time.monotonic() - started)


def _shut(conn: http.client.HTTPConnection) -> None:
    with contextlib.suppress(OSError):
        if conn.sock is not None:
            conn.sock.shutdown(socket.SHUT_RDWR)
