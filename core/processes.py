"""Long-running child processes (the MLflow UI, the prediction API) that end with their command.

The child runs in its own session, so its process group holds it and every worker it starts
(``mlflow ui`` starts uvicorn, ``bentoml serve`` its workers). However the block that started it
ends (normally, by an exception, by Ctrl-C or by SIGTERM to this process), the signal is passed
on to the whole group and the group is waited for; what still runs after the grace period is
killed. A descendant that left the group (a worker in a session of its own) gets the same
signal and is waited for too, so it cannot outlive a parent that dies at once. A second Ctrl-C
or SIGTERM while it stops kills them all at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import psutil

STOP_GRACE_SECONDS = 30.0


class Terminated(SystemExit):
    """SIGTERM reached this process while a child group ran: exits with 143 unless caught."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


def check_port(host: str, port: int) -> None:
    """A ValueError when a server on ``host`` could not listen on ``port`` (another one does):
    said before a server starts, which would otherwise log it and, for some, exit 0."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ValueError(f"--host {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            probe.bind(address)
        except OSError as exc:
            raise ValueError(
                f"{host}:{port} is in use or not available ({exc.strerror}): choose another --port"
            ) from None


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextmanager
def _handlers(handlers: Mapping[int, Callable[[int, object], None]]) -> Iterator[None]:
    """``handlers`` (signal number to handler) for the block, the previous ones back after it.
    Only the main thread may set handlers: in another thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in handlers}
    try:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


RESEND_DELAY_SECONDS = 0.01


def _stop_signal(exc: BaseException | None) -> int | None:
    """The signal behind a stop: SIGTERM for :class:`Terminated` or Prefect's
    ``TerminationSignal``, SIGINT for ``KeyboardInterrupt`` (Ctrl-C); None for anything else."""
    if isinstance(exc, Terminated) or getattr(exc, "signal", None) == signal.SIGTERM:
        return signal.SIGTERM
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    return None


def stop_behind(exc: BaseException | None) -> BaseException | None:
    """The stop (SIGTERM or Ctrl-C) behind ``exc``: ``exc`` itself, or an exception it was raised
    while handling or from; None if there is none. A library's own handler of a stop can fail on
    the way out and raise another error in its place (Prefect's task engine, stopped before its
    task run exists, raises ``ValueError("Task run is not set")``): the run was still stopped."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if _stop_signal(exc) is not None:
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


@contextmanager
def _lost_stops_resent() -> Iterator[None]:
    """A SIGTERM or Ctrl-C is not lost when it lands in a finalizer. Python runs signal handlers
    between any two bytecodes, also inside a ``__del__`` or a weakref callback the garbage
    collector runs (an asyncio transport closing, say); the exception the handler raises there
    is dropped ("Exception ignored in ...") and the work would go on. Such a drop reaches
    ``sys.unraisablehook``: the signal is then sent again a moment later, from another thread,
    so that it lands outside the finalizer and unwinds the work as any stop does."""
    if threading.current_thread() is not threading.main_thread():  # handlers run in the main
        yield
        return
    previous = sys.unraisablehook

    def resend(unraisable: sys.UnraisableHookArgs) -> None:
        signum = _stop_signal(unraisable.exc_value)
        if signum is None:
            previous(unraisable)
            return
        later = threading.Timer(RESEND_DELAY_SECONDS, os.kill, (os.getpid(), signum))
        later.daemon = True
        later.start()

    sys.unraisablehook = resend
    try:
        yield
    finally:
        sys.unraisablehook = previous


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` in it instead of ending the
    process at once: rollbacks, ``finally`` blocks and exit handlers (Prefect's temporary API
    server is stopped by one) run, and the exit code is 143. Inside a flow run Prefect's own
    handler raises its ``TerminationSignal`` first, which ends as :class:`Terminated` here. A
    SIGTERM or Ctrl-C whose exception a finalizer swallowed is sent again
    (:func:`_lost_stops_resent`).
    """
    # A closed terminal (SIGHUP) unwinds the same way: a child in a session of its own (Prefect's
    # temporary server, flows/cli.py) is not hung up with it and is stopped at exit.
    stops = {signal.SIGTERM: _raise_terminated, signal.SIGHUP: _raise_terminated}
    with _handlers(stops), _lost_stops_resent():
        yield


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal still counts
        return True
    return True


def _outside_group(
    proc: subprocess.Popen, known: dict[int, psutil.Process]
) -> list[psutil.Process]:
    """``proc``'s descendants now (while it runs: once reaped, its PID may be another
    process's), added to ``known``; returns those of ``known`` still running in another
    process group than ``proc``'s (a worker that started a session of its own)."""
    pgid = proc.pid
    if proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pgid).children(recursive=True):
                known.setdefault(child.pid, child)
    outside = []
    for child in known.values():
        with contextlib.suppress(psutil.Error, OSError):
            running = child.is_running() and child.status() != psutil.STATUS_ZOMBIE
            if running and os.getpgid(child.pid) != pgid:
                outside.append(child)
    return outside


def _signal_each(processes: Sequence[psutil.Process], signum: int) -> None:
    for child in processes:
        with contextlib.suppress(psutil.Error):
            child.send_signal(signum)


def stop_group(
    proc: subprocess.Popen, signum: int = signal.SIGTERM, grace: float = STOP_GRACE_SECONDS
) -> int:
    """Send ``signum`` to the process group led by ``proc`` and to every descendant of ``proc``
    in another group (they would otherwise outlive a parent that dies at the signal), and wait
    for them all; SIGKILL what is left after ``grace`` seconds. Returns ``proc``'s exit code."""
    pgid = proc.pid
    deadline = time.monotonic() + grace
    known: dict[int, psutil.Process] = {}

    def kill_now(signum: int, frame: object) -> None:  # a second Ctrl-C or SIGTERM
        _signal_group(pgid, signal.SIGKILL)
        _signal_each(list(known.values()), signal.SIGKILL)

    with _handlers(dict.fromkeys((signal.SIGINT, signal.SIGTERM), kill_now)):
        _signal_each(_outside_group(proc, known), signum)
        _signal_group(pgid, signum)
        signalled = set(known)
        while time.monotonic() < deadline:
            # Workers started while the leader was still running get the signal too.
            outside = _outside_group(proc, known)
            _signal_each([p for p in outside if p.pid not in signalled], signum)
            signalled.update(known)
            if proc.poll() is not None and not _group_alive(pgid) and not outside:
                break
            time.sleep(0.1)
        if proc.poll() is None or _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
        _signal_each(_outside_group(proc, known), signal.SIGKILL)
        return proc.wait()


@contextmanager
def process_group(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    stdout: IO | None = None,
    grace: float = STOP_GRACE_SECONDS,
) -> Iterator[subprocess.Popen]:
    """``command`` started in its own session (``stdout`` also takes its stderr), stopped with
    its whole process group when the block ends: SIGINT after Ctrl-C, SIGTERM otherwise. While
    the block runs, SIGTERM to this process raises :class:`Terminated` in it (exit code 143).
    """
    with sigterm_unwinds():
        proc = subprocess.Popen(  # noqa: S603 - the caller's own command line
            list(command),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            start_new_session=True,
        )
        signum = signal.SIGTERM
        try:
            yield proc
        except KeyboardInterrupt:
            signum = signal.SIGINT
            raise
        finally:
            stop_group(proc, signum, grace)


def run_in_foreground(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    grace: float = STOP_GRACE_SECONDS,
) -> int:
    """Run ``command`` until it ends or this process is stopped; Ctrl-C and SIGTERM are passed
    on to its whole group, which is waited for. Returns its exit code, or 128 + the signal
    number when stopped by one."""
    try:
        with process_group(command, env=env, cwd=cwd, grace=grace) as proc:
            return proc.wait()
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except Terminated as stop:
        return int(stop.code)
