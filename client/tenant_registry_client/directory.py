"""``TenantDirectory``: a local, always-following copy of the registry's tenants.

``start()`` pages through the changes feed from position 0 (the bootstrap), then a daemon
thread follows the changes stream, resuming with ``Last-Event-ID`` after any cut and backing
off between attempts. ``get`` and ``by_slug`` are dictionary look-ups: no I/O, no lock (a
single ``dict.get`` is atomic); the follower swaps whole, immutable entries under a lock.

Memory: one :class:`DirectoryTenant` per tenant — a slotted, read-only object whose repeated
strings (plan, status, time zone) are shared and whose instants are stored as floats and
turned into ``datetime`` on access.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

from tenant_registry_client._calls import backoff
from tenant_registry_client.client import EventStream, TenantRegistryClient
from tenant_registry_client.errors import TenantRegistryError
from tenant_registry_client.records import DirectoryTenant, Interner
from tenant_registry_client.sse import ServerSentEvent

log = logging.getLogger(__name__)

CHANGES_STREAM = "/v1/tenants/changes/stream"
#: Without a message or heartbeat for this long, the connection counts as stale.
STALE_AFTER_SECONDS = 35.0


class Arrival(NamedTuple):
    """An item as it arrived (for an optional observer): ``connection`` is 0 for the
    bootstrap, then 1, 2, … for each stream connection."""

    position: int
    tenant_id: UUID
    purged: bool
    connection: int


@dataclass
class _Link:
    connection: int = 0
    stream: EventStream | None = None
    last_seen: float = 0.0
    down_since: float | None = None


class TenantDirectory:
    """A thread-safe in-memory replica of the read table, following the registry."""

    def __init__(
        self,
        client: TenantRegistryClient,
        *,
        page_size: int = 1000,
        max_backoff: float = 5.0,
        observer: Callable[[Arrival], None] | None = None,
    ) -> None:
        self._client = client
        self._page_size = page_size
        self._max_backoff = max_backoff
        self._observer = observer
        # Keyed by the UUID's integer: hashing an int is C, ``UUID.__hash__`` is Python.
        self._by_id: dict[int, DirectoryTenant] = {}
        self._by_slug: dict[str, DirectoryTenant] = {}
        self._interner = Interner()
        self._position = 0
        self._confirmed = 0
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._link = _Link()
        self.duplicates_skipped = 0

    # -- reads (no I/O) ----------------------------------------------------------------------

    def get(self, tenant_id: UUID | str) -> DirectoryTenant | None:
        """The tenant, or ``None`` if unknown or purged."""
        if type(tenant_id) is UUID:
            return self._by_id.get(tenant_id.int)
        try:
            return self._by_id.get(UUID(str(tenant_id)).int)
        except ValueError:
            return None

    def by_slug(self, slug: str) -> DirectoryTenant | None:
        """The tenant that holds ``slug``, or ``None``."""
        return self._by_slug.get(slug)

    def __len__(self) -> int:
        return len(self._by_id)

    def tenants(self) -> list[DirectoryTenant]:
        """A snapshot of every tenant (soft-deleted ones included)."""
        with self._changed:
            return list(self._by_id.values())

    @property
    def position(self) -> int:
        """The position the directory is known to reflect: the latest change applied, or a
        later position that ``wait_for`` confirmed with the registry."""
        return max(self._position, self._confirmed)

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until the directory reflects ``position`` (a command's
        ``X-Event-Position``); ``False`` if ``timeout`` seconds pass first.

        A command's position may belong to an event that changes no row (a slug claim, or the
        head after a no-op), so the stream alone may never carry it. Then one request to the
        changes feed (``min_position=position``) tells which changes the registry had by
        then, and the directory waits until the stream has delivered them."""
        deadline = time.monotonic() + timeout
        with self._changed:  # the usual case: the stream brings the command's own change
            if self._changed.wait_for(lambda: self.position >= position, min(timeout, 0.05)):
                return True
        try:
            needed = self._latest_change_after(self._position, position)
        except TenantRegistryError:
            return False
        with self._changed:
            reached = self._changed.wait_for(
                lambda: self._position >= needed, max(0.0, deadline - time.monotonic())
            )
            if reached:
                self._confirmed = max(self._confirmed, position)
            return reached

    def _latest_change_after(self, after: int, position: int) -> int:
        """The highest position of a change the registry holds once it has reached
        ``position`` (``after`` if nothing changed since)."""
        latest = after
        while True:
            page = self._client.changes_page_raw(
                after=latest, limit=self._page_size, min_position=position
            )
            items = page["data"]
            if items:
                latest = int(items[-1]["position"])
            if len(items) < self._page_size:
                return latest

    @property
    def lag_seconds(self) -> float:
        """0 while the stream is connected and live; else how long the copy has been without a
        live connection (``inf`` before ``start``)."""
        link = self._link
        now = time.monotonic()
        if link.stream is not None and now - link.last_seen < STALE_AFTER_SECONDS:
            return 0.0
        if link.down_since is None:
            return float("inf")
        return now - link.down_since

    @property
    def connected(self) -> bool:
        """Whether the follower holds an open stream."""
        return self._link.stream is not None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Load every tenant from the changes feed, then follow the stream in a daemon
        thread. Returns once the bootstrap is done; raises if the feed cannot be read."""
        if self._thread is not None:
            msg = "the directory is already started"
            raise RuntimeError(msg)
        for items in self._bootstrap_pages():
            with self._changed:
                for item in items:
                    self._take(item, 0)
                self._changed.notify_all()
        self._link.down_since = time.monotonic()
        self._thread = threading.Thread(target=self._follow, name="tenant-directory", daemon=True)
        self._thread.start()

    def _bootstrap_pages(self) -> Iterator[list[dict[str, Any]]]:
        """The feed's pages from the current position to the head; the next page is fetched
        while this one is applied (the server's time and ours overlap)."""
        pages: queue.Queue[list[dict[str, Any]] | Exception | None] = queue.Queue(maxsize=2)

        def fetch() -> None:
            after = self._position
            try:
                while True:
                    page = self._client.changes_page_raw(after=after, limit=self._page_size)
                    if not page["data"]:
                        pages.put(None)
                        return
                    pages.put(page["data"])
                    after = int(page["next_after"])
            except Exception as exc:  # raised again by the reader below
                pages.put(exc)

        threading.Thread(target=fetch, name="tenant-directory-bootstrap", daemon=True).start()
        while (got := pages.get()) is not None:
            if isinstance(got, Exception):
                raise got
            yield got

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following (the copy stays readable, frozen where it is)."""
        self._stopping.set()
        stream = self._link.stream
        if stream is not None:
            stream.close()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- following ---------------------------------------------------------------------------

    def _follow(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                attempt = self._follow_once(attempt)
            except (TenantRegistryError, ValueError, KeyError) as exc:
                log.warning(
                    "tenant directory: stream lost (%s: %s); resuming", type(exc).__name__, exc
                )
            finally:
                self._link.stream = None
                self._link.down_since = time.monotonic()
            self._stopping.wait(min(self._max_backoff, backoff(attempt, base=0.1)))
            attempt += 1

    def _follow_once(self, attempt: int) -> int:
        link = self._link
        with self._client.open_stream(CHANGES_STREAM, after=self._position) as stream:
            link.connection += 1
            link.stream, link.last_seen = stream, time.monotonic()
            if self._stopping.is_set():
                return attempt
            for message in stream:
                if self._stopping.is_set():
                    break
                link.last_seen = time.monotonic()
                attempt = 0
                if isinstance(message, ServerSentEvent) and message.event == "change":
                    item = json.loads(message.data)
                    with self._changed:
                        self._take(item, link.connection)
                        self._changed.notify_all()
        return attempt

    def _take(self, item: Mapping[str, Any], connection: int) -> None:
        """Apply one change (the lock is held)."""
        position = int(item["position"])
        tenant_id = UUID(item["tenant_id"])
        document = item.get("tenant")
        if self._observer is not None:
            self._observer(Arrival(position, tenant_id, document is None, connection))
        if position <= self._position:
            self.duplicates_skipped += 1
            return
        old = self._by_id.get(tenant_id.int)
        if document is None:
            self._by_id.pop(tenant_id.int, None)
        else:
            new = DirectoryTenant.from_document(document, tenant_id, self._interner)
            self._by_id[tenant_id.int] = new
            self._by_slug[new.slug] = new
        # A purge frees the slug (slugs are otherwise immutable): drop it unless retaken.
        freed = old is not None and (document is None or old.slug != document["slug"])
        if old is not None and freed and self._by_slug.get(old.slug) is old:
            del self._by_slug[old.slug]
        self._position = position
