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


def run_script(script: str, *args: str, flow_api: bool) -> subprocess.CompletedProcess:
    """``script`` run by this Python with ``args``; with ``flow_api``, on the session's Prefect
    API (the ``prefect_harness`` fixture must be active)."""
    env = dict(os.environ)
    if flow_api:
        from prefect.settings import get_current_settings

        env["PREFECT_API_URL"] = str(get_current_settings().api.url)
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


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
    if where == "flow":
        request.getfixturevalue("prefect_harness")
    done = run_script(STOPPED_IN_FINALIZER, where, stop, flow_api=where == "flow")
    output = done.stdout + done.stderr
    assert done.returncode == code, output[-3000:]
    assert "ran to the end" not in output
    assert says in output


# The stop reaches a flow while Prefect creates a task run: Prefect's task engine handles its own
# TerminationSignal there by setting a crashed state on a task run it does not have yet, and
# raises ValueError("Task run is not set") from the handler. The stop is behind that error.
STOPPED_BEFORE_THE_TASK_RUN = """
import os, signal
import prefect.task_engine as engine
from prefect import flow, task
from flows.cli import running_flow

create = engine._create_task_run_locally

def create_stopped(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(100_000):  # Prefect's handler raises in here, before the task run exists
        pass
    return create(*args, **kwargs)

engine._create_task_run_locally = create_stopped

@task
def step():
    print("the task ran", flush=True)

@flow(name="stopped-before-the-task-run")
def work():
    step()
    print("ran to the end", flush=True)

with running_flow(as_json=True):
    work()
"""


def test_a_stop_that_a_library_turns_into_another_error_still_stops_the_command(prefect_harness):
    done = run_script(STOPPED_BEFORE_THE_TASK_RUN, flow_api=True)
    output = done.stdout + done.stderr
    assert done.returncode == 143, output[-3000:]
    assert "Task run is not set" in output  # the library's error, logged by Prefect
    assert "the task ran" not in output and "ran to the end" not in output
    assert "stopped: SIGTERM" in done.stderr
    assert (
        done.stdout.strip().splitlines()[-1] == '{"error": "stopped by SIGTERM", "exit_code": 143}'
    )


def test_the_stop_behind_an_error_is_found_in_its_chain():
    from core.processes import Terminated, stop_behind
    from flows.cli import running_flow

    ctrl_c = KeyboardInterrupt()
    chained = ValueError("raised while handling Ctrl-C")
    chained.__context__ = ctrl_c
    assert stop_behind(chained) is ctrl_c
    assert stop_behind(ValueError("no stop")) is None and stop_behind(None) is None
    looped = ValueError("a chain that loops")
    looped.__context__ = TypeError()
    looped.__context__.__context__ = looped
    assert stop_behind(looped) is None
    with pytest.raises(KeyboardInterrupt), running_flow():  # Ctrl-C stays Ctrl-C
        raise chained
    with pytest.raises(Terminated), running_flow():
        raise RuntimeError("raised while handling SIGTERM") from Terminated()
    with pytest.raises(ValueError, match="no stop"), running_flow():
        raise ValueError("no stop")
