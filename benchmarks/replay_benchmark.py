"""Replay benchmark: a full regular season replayed day by day, end to end.

Method: ``nba-mlops replay --season 2023-24 --trained-through 2022-23`` (the real CLI: its own
temporary Prefect API, a new state folder with a SQLite store and an MLflow store) runs in a
fresh subprocess on the shared snapshot, timed with wall-clock; the child's CPU time and peak
memory come from ``resource.getrusage``. The replay ingests the 23 seasons through 2022-23,
trains and promotes the game model, then for each of the 160 game days predicts the day's games
from the store, logs them in ``predictions``, stores the day's results, and runs the drift check
every 7 days (which may retrain, through the promotion gate). Accuracy, log loss and Brier are
those of the logged predictions against the results, next to the baselines on the same games
(``summary.json`` of the run). The machine's load average is recorded before and after: the
machine is shared, and the CPU time of the replay is the figure that does not depend on it.

Usage: python benchmarks/replay_benchmark.py [--season 2023-24] [--trained-through 2022-23]
Writes benchmarks/results/replay.json and replay.md.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import as_markdown, describe

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(ROOT / ".venv/bin/nba-mlops")]
TARGET_S = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--season", default="2023-24")
    parser.add_argument("--trained-through", default="2022-23")
    parser.add_argument("--extra", nargs="*", default=[], help="More replay options.")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "replay"
        env = {
            **os.environ,
            "PREFECT_HOME": str(Path(tmp) / "prefect"),
            "NBA_STATE_DIR": str(Path(tmp) / "user-state"),
        }
        command = [
            *CLI,
            "replay",
            "--season",
            args.season,
            "--trained-through",
            args.trained_through,
            "--out",
            str(out),
            "--json",
            *args.extra,
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"replay failed ({proc.returncode}): {proc.stderr[-3000:]}")
        summary = json.loads((out / "summary.json").read_text())
        user_state_untouched = not (Path(tmp) / "user-state").exists()
    load_after = os.getloadavg()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    games = summary["games"]
    results = {
        "wall_s": round(wall, 1),
        "flow_s": summary["seconds"],
        "cpu_s": round(cpu, 1),
        "peak_memory_mb": round(after.ru_maxrss / 1024, 1),
        "days": summary["days"],
        "games_predicted": summary["games_predicted"],
        "checks": len(summary["checks"]),
        "checks_with_alerts": sum(1 for c in summary["checks"] if c["alerts"]),
        "retrains": [
            {
                "as_of": r["as_of"],
                "reasons": r["reasons"],
                "models": [
                    {k: m[k] for k in ("name", "version", "promoted", "reason")}
                    for m in r["models"]
                ],
            }
            for r in summary["retrains"]
        ],
        "champions": summary["champions"],
        "timings_s": summary["timings"],
        "metrics": games["metrics"],
        "home_rate": games["home_rate"],
        "monthly": games["monthly"],
        "user_state_untouched": user_state_untouched,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    machine = describe(("pandas", "numpy", "evidently", "prefect", "mlflow", "scikit-learn"))
    doc = {
        "benchmark": "replay",
        "command": " ".join(["nba-mlops", *command[1:]]).replace(str(out), "<tmp>/replay"),
        "method": __doc__.split("\n\n")[1].replace("\n", " "),
        "target": {"wall_s": TARGET_S},
        "results": results,
        "machine": machine,
    }
    out_dir = ROOT / "benchmarks/results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "replay.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out_dir / "replay.md").write_text(render(doc))
    print(render(doc))


def render(doc: dict) -> str:
    r = doc["results"]
    lines = [
        f"# Replay benchmark: {doc['command']}",
        "",
        doc["method"],
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| wall time, process start to exit | {r['wall_s']} s | < {doc['target']['wall_s']:.0f} s |",
        f"| of which inside the flow | {r['flow_s']} s | |",
        f"| CPU time of the replay process | {r['cpu_s']} s | |",
        f"| peak memory | {r['peak_memory_mb']} MB | |",
        f"| game days / games predicted | {r['days']} / {r['games_predicted']} | |",
        f"| drift checks / with alerts / retrains | {r['checks']} / {r['checks_with_alerts']} / "
        f"{len(r['retrains'])} | |",
        f"| user's state folder untouched | {r['user_state_untouched']} | True |",
        "",
        "Where the time went (seconds): "
        + ", ".join(f"{k} {v}" for k, v in r["timings_s"].items()),
        "",
        "## Logged predictions against the results, same games",
        "",
        f"Home baseline: P(home win) = {r['home_rate']:.3f} for every game (home-win share of the "
        "training seasons); Elo baseline: the pre-game Elo probability.",
        "",
        "| predictor | accuracy | log loss | Brier | n |",
        "|---|---|---|---|---|",
    ]
    for who, m in r["metrics"].items():
        lines.append(
            f"| {who} | {m['accuracy']:.4f} | {m['log_loss']:.4f} | {m['brier']:.4f} | {m['n']} |"
        )
    lines += ["", "## Retrains and promotions", ""]
    if not r["retrains"]:
        lines.append("None.")
    for retrain in r["retrains"]:
        lines.append(f"- {retrain['as_of']}: {'; '.join(retrain['reasons'])}")
        for m in retrain["models"]:
            verdict = "promoted" if m["promoted"] else "refused"
            lines.append(f"  - {m['name']} v{m['version']} {verdict}: {m['reason']}")
    lines += [
        "",
        f"Load average (1, 5, 15 min) before: {r['load_average_before']}, after: "
        f"{r['load_average_after']} (shared machine, {doc['machine']['cores']} cores).",
        "",
        "## Machine",
        "",
        as_markdown(doc["machine"]),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
