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


def _connect(address: str, port: int, timeout: float | None) -> socket.socket:
    sock = socket.create_connection((address, port), timeout)
    # As http.client does: no Nagle delay between a request's segments on a kept connection.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = _connect(self._address, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._ssl_context = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._ssl_context)
        self._address = address

    def connect(self) -> None:
        raw = _connect(self._address, self.port, self.timeout)
        self.sock = self._ssl_context.wrap_socket(raw, server_hostname=self.host)


class Sender:
    """Posts deliveries, keeping one connection alive while the destination stays the same
    (a delivery job works one endpoint). Every post resolves and checks the address again."""

    def __init__(
        self, *, allow_private: bool, connect_timeout: float, total_timeout: float
    ) -> None:
        self.allow_private = allow_private
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self._conn: http.client.HTTPConnection | None = None
        self._key: tuple[str, str, int, str] | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = self._key = None

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        """POST ``body`` to ``url``; never raises for what the receiver or network does."""
        started = time.monotonic()
        try:
            scheme, host, port = check_url(url)
            address = allowed_address(host, port, allow_private=self.allow_private)
        except (UrlRefused, AddressRefused):
            return Attempt(None, "address-refused", time.monotonic() - started)
        except OSError:
            return Attempt(None, "dns-error", time.monotonic() - started)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (scheme, host, port, str(address))
        reused = self._conn is not None and self._key == key
        try:
            try:
                status = self._send(key, target, body, headers)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                self.close()  # the receiver closed the idle connection: one fresh try
                status = self._send(key, target, body, headers)
        except TimeoutError:
            return self._failed("timeout", started)
        except ssl.SSLError:
            return self._failed("tls-error", started)
        except ConnectionRefusedError:
            return self._failed("connection-refused", started)
        except (OSError, http.client.HTTPException):
            elapsed = time.monotonic() - started
            return self._failed(
                "timeout" if elapsed >= self.total_timeout else "connection-error", started
            )
        return Attempt(status, None, time.monotonic() - started)

    def _failed(self, error: str, started: float) -> Attempt:
        self.close()
        return Attempt(None, error, time.monotonic() - started)

    def _send(
        self, key: tuple[str, str, int, str], target: str, body: bytes, headers: dict[str, str]
    ) -> int:
        if self._conn is None or self._key != key:
            self.close()
            scheme, host, port, address = key
            kind = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
            self._conn = kind(
                host, port, address, timeout=min(self.connect_timeout, self.total_timeout)
            )
            self._key = key
        conn = self._conn
        # The total timeout: whatever the receiver does (drips bytes, never answers), the
        # socket is shut at the deadline.
        timer = threading.Timer(self.total_timeout, _shut, args=(conn,))
        timer.daemon = True
        timer.start()
        try:
            if conn.sock is None:
                conn.connect()
                if conn.sock is not None:
                    conn.sock.settimeout(self.total_timeout)
            conn.request("POST", target, body, {**headers, "User-Agent": USER_AGENT})
            response = conn.getresponse()
            response.read(MAX_RESPONSE_BYTES)  # read and dropped, never stored
            if response.will_close or not response.isclosed():
                self.close()
            return response.status
        finally:
            timer.cancel()


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    connect_timeout: float,
    total_timeout: float,
) -> Attempt:
    """One POST on a connection of its own."""
    sender = Sender(
        allow_private=allow_private, connect_timeout=connect_timeout, total_timeout=total_timeout
    )
    try:
        return sender.post(url, body, headers)
    finally:
        sender.close()


def _shut(conn: http.client.HTTPConnection) -> None:
    with contextlib.suppress(OSError):
        if conn.sock is not None:
            conn.sock.shutdown(socket.SHUT_RDWR)
