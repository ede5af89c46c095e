"""The machine a benchmark ran on, written next to every result."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata

# Taken when a benchmark script imports this module, before its timed work: the load of other
# work on the machine at the start. ``describe`` is called after the run and adds the load then.
_LOAD_AT_START = [round(x, 2) for x in os.getloadavg()]


def describe(packages: tuple[str, ...] = ("pandas", "numpy", "sqlalchemy")) -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as f:
            mem_gb = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    versions = {}
    for p in packages:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on the machine at the start of the run (1, 5, 15 minute load averages),
        # and the load when the run ended (the run's own work included).
        "load_average": _LOAD_AT_START,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "commit": commit,
        "packages": versions,
    }


def as_markdown(machine: dict) -> str:
    pk = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    return (
        f"- date: {machine['date']}\n- machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gb']} GB RAM, {machine['platform']}\n- Python {machine['python']}; {pk}\n"
        f"- commit: {machine['commit']}\n"
        f"- load average at start (1/5/15 min): {machine.get('load_average')}"
        f"{_at_end(machine)}\n"
    )


def _at_end(machine: dict) -> str:
    end = machine.get("load_average_at_end")
    return f"; at the end: {end}" if end else ""
