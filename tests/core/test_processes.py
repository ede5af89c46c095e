"""A long-running child stops with its whole process group when its command is stopped."""

from __future__ import annotations

import os
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
session = sys.argv[1] == "own-session"
child = (
    "import subprocess, time; "
    f"subprocess.Popen(['sleep', '300'], start_new_session={session}); time.sleep(300)"
)
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
# A worker in a session (and process group) of its own, as a server's worker can be, whose
# parent dies at the signal without stopping it: it must not be left running.
@pytest.mark.parametrize("worker", ["same-group", "own-session"])
def test_stopping_the_command_stops_the_child_and_its_workers(signum, code, worker):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, worker], stdout=subprocess.PIPE, start_new_session=True
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


# A stop reaches the command while a finalizer runs (the garbage collector closing an asyncio
# transport, say): the exception its handler raises there is one Python drops ("Exception
# ignored in ... __del__"). The stop must still happen. In the flow case the SIGTERM handler is
# Prefect's; Ctrl-C is Python's own KeyboardInterrupt, as in a terminal.
STOPPED_IN_FINALIZER = """
import os, signal, sys, time
from flows.cli import running_flow

where, signum = sys.argv[1], getattr(signal, sys.argv[2])
signal.signal(signal.SIGINT, signal.default_int_handler)

class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signum)
        for _ in range(100_000):  # the handler runs in here, inside the finalizer
            pass

def work():
    Finalized()  # dropped at once: its finalizer runs now
    for _ in range(500):
        time.sleep(0.01)
    print("ran to the end", flush=True)

if where == "flow":
    from prefect import flow
    work = flow(name="finalizer-stop")(work)
with running_flow():
    work()
"""


@pytest.mark.parametrize(
    ("where", "stop", "code", "says"),
    [
        ("plain", "SIGTERM", 143, "stopped: SIGTERM"),
        ("flow", "SIGTERM", 143, "stopped: SIGTERM"),
        ("plain", "SIGINT", -signal.SIGINT, "KeyboardInterrupt"),
    ],
    ids=["sigterm", "sigterm-in-a-flow", "ctrl-c"],
)
def test_a_stop_raised_inside_a_finalizer_still_stops_the_command(where, stop, code, says, request):
    env = dict(os.environ)
    if where == "flow":
        from prefect.settings import get_current_settings

        request.getfixturevalue("prefect_harness")
        env["PREFECT_API_URL"] = str(get_current_settings().api.url)
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_IN_FINALIZER, where, stop],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == code, output[-3000:]
    assert "ran to the end" not in output
    assert says in output
