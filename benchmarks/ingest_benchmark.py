"""Ingest benchmark: all shared data into SQLite and into PostgreSQL, then a no-change rerun.

Method: each measurement runs ``nba-mlops ingest`` (the real CLI: Prefect flow with its temporary
API server, Great Expectations validation, one transaction) in a fresh subprocess against an empty
store, timed with wall-clock; peak memory is the child's max RSS (``resource.getrusage``). The
second run over the same data measures the no-change path (incremental: batches whose digest
matches the last successful ingest are skipped); a third, with ``--full``, validates and compares
every row again.

Usage: python benchmarks/ingest_benchmark.py [--pg-admin-url URL]
Writes benchmarks/results/ingest.json and ingest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import as_markdown, describe

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(ROOT / ".venv/bin/nba-mlops")]
TARGETS = {"sqlite_s": 60, "postgresql_s": 60, "rerun_s": 20, "peak_memory_mb": 2048}


def run_ingest(env: dict, *extra: str) -> tuple[float, float, dict]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*CLI, "ingest", "--json", *extra], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - t0
    peak_mb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed ({proc.returncode}): {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout[proc.stdout.index("{") :])
    return elapsed, peak_mb, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    from sqlalchemy import create_engine, text

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = {
            **os.environ,
            "NBA_STATE_DIR": tmp,
            "PREFECT_HOME": str(Path(tmp) / "prefect"),
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        env = {**base, "NBA_DATABASE_URL": f"sqlite:///{tmp}/bench.db"}
        results["sqlite_s"], mem1, summary = run_ingest(env)
        results["rerun_s"], mem2, rerun = run_ingest(env)
        results["rerun_inserted"] = sum(
            v["inserted"] + v["updated"] for v in rerun["written"].values()
        )
        results["full_rerun_s"], _, full = run_ingest(env, "--full")
        results["full_rerun_changed"] = sum(
            v["inserted"] + v["updated"] for v in full["written"].values()
        )
        results["rows"] = {k: v["inserted"] for k, v in summary["written"].items()}
        results["flow_seconds_sqlite"] = summary["seconds"]
        admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
        name = f"nba_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            pg = args.pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
            results["postgresql_s"], mem3, pg_summary = run_ingest({**base, "NBA_DATABASE_URL": pg})
            results["postgresql_rerun_s"], _, _ = run_ingest({**base, "NBA_DATABASE_URL": pg})
            results["flow_seconds_postgresql"] = pg_summary["seconds"]
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        results["peak_memory_mb"] = round(max(mem1, mem2, mem3), 1)
    results = {k: round(v, 2) if isinstance(v, float) else v for k, v in results.items()}
    machine = describe(("pandas", "sqlalchemy", "great-expectations", "prefect", "psycopg2-binary"))
    doc = {
        "benchmark": "ingest",
        "method": __doc__.split("\n\n")[1].replace("\n", " "),
        "targets": TARGETS,
        "results": results,
        "machine": machine,
    }
    out = ROOT / "benchmarks/results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = [
        "# Ingest benchmark",
        "",
        doc["method"],
        "",
        "| measure | result | target |",
        "|---|---|---|",
    ]
    for key, target in TARGETS.items():
        lines.append(f"| {key} | {results[key]} | < {target} |")
    lines += [
        f"| rows written | {results['rows']} | |",
        f"| rows changed by the rerun | {results['rerun_inserted']} | 0 |",
        f"| no-change rerun into PostgreSQL | {results['postgresql_rerun_s']} s | < 20 |",
        f"| rerun with `--full` (every batch validated and compared again), SQLite | "
        f"{results['full_rerun_s']} s, {results['full_rerun_changed']} rows changed | |",
        f"| flow time without process start (SQLite / PostgreSQL) | {results['flow_seconds_sqlite']} / "
        f"{results['flow_seconds_postgresql']} s | |",
        "",
        "## Machine",
        "",
        as_markdown(machine),
    ]
    (out / "ingest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
