"""Small questions ``tenant-registry up`` asks the machine: is a port free, does a URL answer,
how long has this process been running."""

from __future__ import annotations

import errno
import os
import socket
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

from cli.errors import CliError


def check_port_free(host: str, port: int) -> None:
    """Fail now, not as an API child restarting forever, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            msg = f"cannot listen on {host}:{port}: {reason}"
            raise CliError(msg) from None


def answers_ok(url: str) -> bool:
    """True when a GET of ``url`` answers 200 within a second."""
    with suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
        return int(response.status) == 200
    return False


def process_age() -> float | None:
    """Seconds since this process was created (Linux: from /proc), else ``None``."""
    try:
        # Fields after the command name; the 22nd field of the line is the start time in ticks.
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
