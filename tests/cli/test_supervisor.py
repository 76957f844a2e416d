"""The supervisor behind ``tenant-registry up``: combined log, restart with backoff, clean stop."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator

import psutil
import pytest

from cli.logview import LogSink, render
from cli.supervisor import Backoff, ChildSpec, Supervisor

PY = sys.executable


def _child(name: str, code: str) -> ChildSpec:
    return ChildSpec(name, [PY, "-c", textwrap.dedent(code)])


def _wait_for(
    condition: Callable[[], bool], timeout: float = 15.0, tick: Callable[[], None] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        if tick is not None:
            tick()
        time.sleep(0.02)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    made: list[Supervisor] = []
    yield made
    for supervisor in made:
        supervisor.stop(timeout=1)


def test_crashing_child_is_restarted_with_doubling_backoff_up_to_the_cap(
    out: io.StringIO, supervisors: list[Supervisor]
) -> None:
    crasher = _child("crasher", "print('boom', flush=True); raise SystemExit(3)")
    backoff = Backoff(initial=0.05, factor=2.0, maximum=0.2, stable_after=60)
    supervisor = Supervisor([crasher], LogSink(out, colour=False), backoff=backoff)
    supervisors.append(supervisor)
    supervisor.start()
    _wait_for(lambda: len(supervisor.restarts) >= 4, tick=supervisor.tick)
    assert [r.delay for r in supervisor.restarts[:4]] == [0.05, 0.1, 0.2, 0.2]
    assert {r.returncode for r in supervisor.restarts} == {3}
    log = out.getvalue()
    assert "crasher | boom" in log
    assert "crasher exited with code 3" in log
    assert "restarting in 0.1 s (attempt 2)" in log


def test_backoff_starts_over_after_a_child_ran_stably(
    out: io.StringIO, supervisors: list[Supervisor]
) -> None:
    clock = FakeClock()
    backoff = Backoff(initial=0.5, factor=2.0, maximum=30, stable_after=10)
    supervisor = Supervisor(
        [_child("flaky", "raise SystemExit(1)")],
        LogSink(out, colour=False),
        backoff=backoff,
        clock=clock,
    )
    supervisors.append(supervisor)
    supervisor.start()
    for _ in range(3):
        _wait_for(lambda: not supervisor.pids())
        clock.now += 60  # it "ran" for a minute before it crashed
        supervisor.tick()
        clock.now += 1
        supervisor.tick()  # restarts it
    assert [r.delay for r in supervisor.restarts] == [0.5, 0.5, 0.5]


def test_quick_crashes_in_a_row_back_off_further_each_time(
    out: io.StringIO, supervisors: list[Supervisor]
) -> None:
    clock = FakeClock()
    backoff = Backoff(initial=0.5, factor=2.0, maximum=3, stable_after=10)
    supervisor = Supervisor(
        [_child("flaky", "raise SystemExit(1)")],
        LogSink(out, colour=False),
        backoff=backoff,
        clock=clock,
    )
    supervisors.append(supervisor)
    supervisor.start()
    for _ in range(5):
        _wait_for(lambda: not supervisor.pids())
        supervisor.tick()
        supervisor.tick()  # not due yet: nothing is started
        assert not supervisor.pids()
        clock.now += 5
        supervisor.tick()
    assert [r.delay for r in supervisor.restarts] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_each_line_of_the_combined_log_names_its_process(out: io.StringIO) -> None:
    sink = LogSink(out, colour=False)
    supervisor = Supervisor(
        [
            _child("api", "print('hello from api', flush=True)"),
            _child("projector", "print('hello from projector', flush=True)"),
        ],
        sink,
    )
    supervisor.start()
    _wait_for(lambda: out.getvalue().count("hello") == 2)
    supervisor.stop(timeout=2)
    lines = out.getvalue().splitlines()
    assert "api       | hello from api" in lines
    assert "projector | hello from projector" in lines


def test_colour_prefixes_only_when_asked(out: io.StringIO) -> None:
    LogSink(out, colour=True).line("api", "x")
    LogSink(out, colour=False).line("api", "y")
    first, second = out.getvalue().splitlines()
    assert first.startswith("\x1b[")
    assert first.endswith("|\x1b[0m x")
    assert second == "api | y"


def test_json_log_records_are_rendered_as_text() -> None:
    raw = (
        b'{"ts":"2027-01-10T09:00:00+00:00","level":"info","logger":"projector",'
        b'"msg":"caught up","position":42}\n'
    )
    text = render(raw)
    assert "INFO  projector: caught up position=42" in text
    assert render(b"plain text\n") == "plain text"
    assert render(b'{"not": "a log record"}\n') == '{"not": "a log record"}'


def test_an_errors_traceback_follows_its_line() -> None:
    raw = (
        b'{"ts":"2027-01-10T09:00:00+00:00","level":"error","logger":"api.guard",'
        b'"msg":"request failed","request_id":"r1","error":"KeyError",'
        b'"traceback":"Traceback (most recent call last):\\n  File \\"x.py\\"\\nKeyError: 1\\n"}\n'
    )
    first, *trace = render(raw).splitlines()
    assert first.endswith("api.guard: request failed request_id=r1 error=KeyError")
    assert trace == [
        "    Traceback (most recent call last):",
        '      File "x.py"',
        "    KeyError: 1",
    ]


def test_stop_lets_a_child_exit_on_sigterm(out: io.StringIO) -> None:
    polite = _child(
        "polite",
        """
        import signal, sys, time
        def bye(*_):
            print('bye', flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print('ready', flush=True)
        time.sleep(60)
        """,
    )
    supervisor = Supervisor([polite], LogSink(out, colour=False), stop_timeout=10)
    supervisor.start()
    _wait_for(lambda: "ready" in out.getvalue())
    supervisor.stop()
    assert "polite | bye" in out.getvalue()
    assert not supervisor.pids()


def test_stop_kills_a_child_and_its_own_children_when_sigterm_is_ignored(out: io.StringIO) -> None:
    stubborn = _child(
        "stubborn",
        f"""
        import signal, subprocess, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        grandchild = subprocess.Popen([{PY!r}, '-c', 'import time; time.sleep(60)'])
        print('grandchild', grandchild.pid, flush=True)
        time.sleep(60)
        """,
    )
    supervisor = Supervisor([stubborn], LogSink(out, colour=False))
    supervisor.start()
    _wait_for(lambda: "grandchild" in out.getvalue())
    child_pid = supervisor.pids()["stubborn"]
    grandchild_pid = int(out.getvalue().split("grandchild")[1].split()[0])
    supervisor.stop(timeout=0.3)
    assert "stubborn did not stop in time; killing it" in out.getvalue()
    assert not psutil.pid_exists(child_pid)
    _wait_for(lambda: _gone(grandchild_pid), timeout=5)


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_grandchild_in_a_process_group_of_its_own_dies_with_its_parent(
    out: io.StringIO, how: str
) -> None:
    """RQ's forking worker runs each job in a work horse that calls ``setpgrp``: killing the
    worker's process group alone would leave the job running as an orphan."""
    worker = _child(
        "worker",
        f"""
        import signal, subprocess, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        horse = subprocess.Popen(
            [{PY!r}, '-c', 'import time; time.sleep(60)'], process_group=0
        )
        print('horse', horse.pid, flush=True)
        time.sleep(60)
        """,
    )
    supervisor = Supervisor([worker], LogSink(out, colour=False))
    supervisor.start()
    _wait_for(lambda: "horse" in out.getvalue())
    horse_pid = int(out.getvalue().split("horse")[1].split()[0])
    assert os.getpgid(horse_pid) == horse_pid
    if how == "stop":
        supervisor.stop(timeout=0.3)
    else:
        supervisor.kill()  # a second Ctrl-C: `up` then stops the supervisor (reaps)
    _wait_for(lambda: _gone(horse_pid), timeout=5)
    supervisor.stop(timeout=1)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_children_die_with_a_supervisor_killed_by_sigkill() -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from cli.logview import LogSink
        from cli.supervisor import ChildSpec, Supervisor
        sleeper = ChildSpec('sleeper', [{PY!r}, '-c', 'import time; time.sleep(60)'])
        s = Supervisor([sleeper], LogSink())
        s.start()
        time.sleep(0.5)
        print(s.pids()['sleeper'], flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([PY, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert psutil.pid_exists(child_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        _wait_for(lambda: _gone(child_pid), timeout=5)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


def test_a_child_killed_by_a_signal_is_logged_with_the_signal_name(
    out: io.StringIO, supervisors: list[Supervisor]
) -> None:
    victim = _child("victim", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    supervisor = Supervisor([victim], LogSink(out, colour=False), backoff=Backoff(initial=60))
    supervisors.append(supervisor)
    supervisor.start()
    _wait_for(lambda: bool(supervisor.restarts), tick=supervisor.tick)
    assert supervisor.restarts[0].returncode == -signal.SIGKILL
    assert "victim was killed by SIGKILL after" in out.getvalue()
