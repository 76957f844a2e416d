"""How ``up`` takes a stop signal: note it in the handler, act on it in the main loop."""

from __future__ import annotations

import argparse
import io
import signal
import threading
import time
from pathlib import Path

from cli.cmd_up import Up
from cli.logview import LogSink
from cli.supervisor import StopFlag


def _up(tmp_path: Path, out: io.StringIO) -> Up:
    args = argparse.Namespace(host="127.0.0.1", port=8000, log_level="INFO", data_dir=tmp_path)
    return Up(args, tmp_path, LogSink(out, colour=False))


def test_the_signal_handler_writes_nothing_and_the_shutdown_says_why(tmp_path: Path) -> None:
    # A handler runs between two bytecodes of the main thread, which may be inside the log's
    # lock or halfway through a write to stdout: it must not log.
    out = io.StringIO()
    up = _up(tmp_path, out)
    up._on_signal(signal.SIGTERM, None)
    assert out.getvalue() == ""
    assert up.stopping.is_set()
    up._shutdown()
    assert "up | received SIGTERM; stopping (again to force)" in out.getvalue()


def test_the_signal_handler_works_while_the_log_lock_is_held(tmp_path: Path) -> None:
    out = io.StringIO()
    up = _up(tmp_path, out)
    done = threading.Event()

    def interrupted_mid_line() -> None:
        with up.sink._lock:  # the main thread was writing a line when the signal came
            up._on_signal(signal.SIGINT, None)
        done.set()

    worker = threading.Thread(target=interrupted_mid_line, daemon=True)
    worker.start()
    assert done.wait(5), "the signal handler blocked on the log lock"
    assert up.stopping.reason == "SIGINT"


def test_stop_flag_set_by_a_signal_wakes_a_wait() -> None:
    flag = StopFlag()
    previous = signal.signal(signal.SIGALRM, lambda *_: flag.set("SIGALRM"))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        started = time.monotonic()
        assert flag.wait(30) is True
        assert time.monotonic() - started < 25
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert flag.reason == "SIGALRM"
    assert StopFlag().wait(0.01) is False
