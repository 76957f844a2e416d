"""A webhook receiver in a process of its own (``python -m bench.webhook_receiver PORT OUT``).

It notes when each tenant's first delivery arrives and how many requests came, and writes
them as JSON to OUT when it gets SIGTERM. A process of its own, so that the benchmark's
driver (registering tenants) and the receiver do not share one interpreter lock.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson


def main(port: int, out: Path) -> None:
    lock = threading.Lock()
    arrivals: dict[str, float] = {}
    requests = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            now = time.time()
            tenant_id = str(orjson.loads(body)["data"]["tenant_id"])
            with lock:
                requests[0] += 1
                arrivals.setdefault(tenant_id, now)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()
    with lock:
        out.write_bytes(orjson.dumps({"arrivals": arrivals, "requests": requests[0]}))


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
