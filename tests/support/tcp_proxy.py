"""A TCP proxy on a free loopback port whose connections a test can cut at will.

It stands for the network between a consumer and the registry: ``drop_all()`` resets every
open connection (the consumer sees a dropped connection mid-stream, the server a vanished
client), and it keeps accepting new ones.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.support.private_pg import free_port


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream_port``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def drop_all(self) -> int:
        """Reset every open connection; return how many sockets were cut."""
        with self._lock:
            victims, self._open = self._open, set()
        for sock in victims:  # the pumps wake up, end and close them
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return len(victims)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.drop_all()

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                downstream.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((downstream, upstream))
            threading.Thread(target=self._serve, args=(downstream, upstream), daemon=True).start()

    def _serve(self, downstream: socket.socket, upstream: socket.socket) -> None:
        back = threading.Thread(target=self._pump, args=(upstream, downstream), daemon=True)
        back.start()
        self._pump(downstream, upstream)
        back.join()
        with self._lock:
            self._open.difference_update((downstream, upstream))
        downstream.close()
        upstream.close()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
