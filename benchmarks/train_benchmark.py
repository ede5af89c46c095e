"""Training benchmark: ``nba-mlops train`` end to end on an ingested store.

Method: the shared snapshot is ingested once into a fresh SQLite store (not timed); then
``nba-mlops train`` runs in a fresh subprocess (the real CLI: Prefect flow, Great Expectations
over the stored rows, features, the six models evaluated walk-forward on the newest season and
refit, MLflow logging with plots, registration and the promotion gate), timed with wall-clock;
peak memory is the child's max RSS (``resource.getrusage``).

Usage: python benchmarks/train_benchmark.py
Writes benchmarks/results/train.json and train.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import as_markdown, describe

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv/bin/nba-mlops")
TARGETS = {"train_s": 180, "peak_memory_mb": 3072}


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    # A stop (SIGTERM) ends the run like Ctrl-C: subprocess.run kills the child and the temporary
    # store is removed, instead of a train process left running on its own.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "NBA_STATE_DIR": tmp,
            "PREFECT_HOME": str(Path(tmp) / "prefect"),
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        run(env, "ingest")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = run(env, "train", "--json")
        elapsed = time.perf_counter() - t0
        peak_mb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    summary = json.loads(proc.stdout[proc.stdout.index("{") :])
    results = {
        "train_s": round(elapsed, 1),
        "peak_memory_mb": round(peak_mb, 1),
        "flow_seconds": summary["seconds"],
        "eval_season": summary["eval_season"],
        "rows": {k: summary["lineage"][k] for k in ("games", "team_rows", "player_rows")},
        "models": {
            m["name"]: {k: v for k, v in m.items() if k in ("version", "log_loss", "mae")}
            for m in summary["models"]
        },
    }
    machine = describe(("pandas", "scikit-learn", "mlflow", "prefect"))
    doc = {
        "benchmark": "train",
        "method": __doc__.split("\n\n")[1].replace("\n", " "),
        "targets": TARGETS,
        "results": results,
        "machine": machine,
    }
    out = ROOT / "benchmarks/results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = ["# Training benchmark", "", doc["method"], "", "| measure | result | target |"]
    lines.append("|---|---|---|")
    for key, target in TARGETS.items():
        lines.append(f"| {key} | {results[key]} | < {target} |")
    lines += [
        f"| flow time without process start | {results['flow_seconds']} s | |",
        f"| rows | {results['rows']} | |",
        f"| evaluation season | {results['eval_season']} | |",
        "",
        "## Machine",
        "",
        as_markdown(machine),
    ]
    (out / "train.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
