"""A long-running child stops with its whole process group when its command is stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.servers import alive, descendants, kill_left_over

# The command under test, as a console script would run it: a child that starts a worker of its
# own (like ``mlflow ui`` and its uvicorn) and both sleep. SIGINT is made to raise
# KeyboardInterrupt as in a terminal, even when the test runner ignores it.
PARENT = """
import signal, sys
from core.processes import run_in_foreground
signal.signal(signal.SIGINT, signal.default_int_handler)
print("started", flush=True)
child = "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
sys.exit(run_in_foreground([sys.executable, "-c", child]))
"""


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["sigterm", "ctrl-c"]
)
def test_stopping_the_command_stops_the_child_and_its_workers(signum, code):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, start_new_session=True
    )
    children: list[int] = []
    try:
        assert parent.stdout.readline() == b"started\n"
        assert _wait_for(lambda: len(descendants(parent.pid)) == 2, 10)  # the child, its worker
        children = descendants(parent.pid)

        parent.send_signal(signum)

        assert parent.wait(10) == code
        assert _wait_for(lambda: not any(alive(pid) for pid in children), 5), children
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(5)
        kill_left_over(children)
