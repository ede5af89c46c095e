"""Drift benchmark: the three monitoring reports over a full regular season of games.

Method: the shared snapshot's 2021-22, 2022-23 and 2023-24 regular seasons are normalized and
their game features built in memory from the team and player logs
(``features.build_game_features``, roster features included, not timed). A
``game-logistic`` pipeline (``training.models.make_model``) is fitted on 2021-22. Reference: the
1,230 games of 2022-23; current: the 1,230 games of 2023-24. Timed, wall-clock, each of 3 runs
in this process after one warm-up run (Evidently's imports excluded): the Evidently feature
drift report over every model feature (``features.GAME_FEATURES``,
``monitoring.reports.feature_drift_report``), the
prediction drift report on the model's P(home win), the performance report of those
predictions against the 2023-24 results, and writing the three as HTML and JSON
(``monitoring.store.save_report``). The figure compared with the target is the sum of the
three builds and the writing, median of the runs. The machine's load average is recorded
before and after: the machine is shared.

Usage: python benchmarks/drift_benchmark.py [--data-dir PATH] [--runs 3]
Writes benchmarks/results/drift.json and drift.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import as_markdown, describe

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 15.0
SEASONS = ("2021-22", "2022-23", "2023-24")


def season_features(data_dir: Path):
    import pandas as pd

    from features import build_game_features
    from ingest.normalize import (
        games_from_team_games,
        normalize_player_games,
        normalize_team_games,
    )
    from ingest.schema import REGULAR
    from ingest.snapshot import SnapshotSource

    source = SnapshotSource(data_dir)
    team_games = pd.concat(
        [normalize_team_games(source.team_game_log(s, REGULAR), s, REGULAR) for s in SEASONS],
        ignore_index=True,
    )
    player_games = pd.concat(
        [normalize_player_games(source.player_game_log(s, REGULAR), s, REGULAR) for s in SEASONS],
        ignore_index=True,
    )
    return build_game_features(
        games_from_team_games(team_games), team_games, player_games=player_games
    )


def one_run(reference, current, model, out: Path) -> dict[str, float]:
    import pandas as pd

    from features import GAME_FEATURES
    from monitoring.performance import summarize_performance
    from monitoring.reports import (
        feature_drift_report,
        performance_report,
        prediction_drift_report,
    )
    from monitoring.store import save_report

    common = dict(
        model_name="game-logistic",
        model_version="bench",
        reference_window="2022-23",
        current_window="2023-24",
    )
    times: dict[str, float] = {}
    t = time.perf_counter()
    features = feature_drift_report(
        reference, current, list(GAME_FEATURES), 0.3, task="game", **common
    )
    times["features_report_s"] = time.perf_counter() - t
    p_ref = model.predict_proba(reference)[:, 1]
    p_cur = model.predict_proba(current)[:, 1]
    t = time.perf_counter()
    predictions = prediction_drift_report(pd.Series(p_ref), pd.Series(p_cur), task="game", **common)
    times["predictions_report_s"] = time.perf_counter() - t
    joined = pd.DataFrame({"home_win": current["home_win"].to_numpy(), "prediction": p_cur})
    t = time.perf_counter()
    summary = summarize_performance("game", joined, {"log_loss": 0.64}, 0.02, min_rows=100)
    performance = performance_report(joined, summary, **common)
    times["performance_report_s"] = time.perf_counter() - t
    t = time.perf_counter()
    sizes = {}
    for result in (features, predictions, performance):
        html_path, json_path = save_report(result, out, {"benchmark": True})
        sizes[result.kind] = html_path.stat().st_size + json_path.stat().st_size
    times["write_html_json_s"] = time.perf_counter() - t
    times["total_s"] = sum(times.values())
    times["share_drifted"] = features.share_drifted
    times["bytes_written"] = sum(sizes.values())
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT / "../shared/data/nba"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from features import GAME_FEATURES
    from training.models import make_model

    load_before = os.getloadavg()
    frame = season_features(Path(args.data_dir))
    train = frame.loc[frame["season"] == SEASONS[0]]
    reference = frame.loc[frame["season"] == SEASONS[1]].reset_index(drop=True)
    current = frame.loc[frame["season"] == SEASONS[2]].reset_index(drop=True)
    model = make_model("game-logistic").fit(train, train["home_win"])
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        one_run(reference, current, model, Path(tmp) / "warmup")
        for i in range(args.runs):
            runs.append(one_run(reference, current, model, Path(tmp) / f"run{i}"))
    load_after = os.getloadavg()
    n_features = len(GAME_FEATURES)
    keys = [k for k in runs[0] if k.endswith("_s")]
    median = {k: round(statistics.median(r[k] for r in runs), 2) for k in keys}
    results = {
        **median,
        "runs_total_s": [round(r["total_s"], 2) for r in runs],
        "reference_games": len(reference),
        "current_games": len(current),
        "features": n_features,
        "share_drifted_2023_24_vs_2022_23": round(runs[0]["share_drifted"], 3),
        "bytes_written": runs[0]["bytes_written"],
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    machine = describe(("pandas", "numpy", "evidently", "scikit-learn"))
    doc = {
        "benchmark": "drift",
        "method": __doc__.split("\n\n")[1].replace("\n", " "),
        "target": {"total_s": TARGET_S},
        "results": results,
        "machine": machine,
    }
    out = ROOT / "benchmarks/results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "drift.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = [
        "# Drift benchmark",
        "",
        doc["method"],
        "",
        "| measure (median of runs) | seconds |",
        "|---|---|",
        *(f"| {k} | {median[k]} |" for k in keys if k != "total_s"),
        f"| **total: three reports built and written** | **{median['total_s']}** "
        f"(target < {TARGET_S}) |",
        "",
        f"- runs: {results['runs_total_s']} s",
        f"- {len(reference)} reference games (2022-23) against {len(current)} current games "
        f"(2023-24), {n_features} features; {results['share_drifted_2023_24_vs_2022_23']:.0%} of the "
        "features drift between the two whole seasons (the weekly checks compare phase-matched "
        "windows instead)",
        f"- written per run: {results['bytes_written'] / 1e6:.1f} MB (HTML + JSON)",
        f"- load average (1, 5, 15 min) before: {results['load_average_before']}, after: "
        f"{results['load_average_after']} on {machine['cores']} cores (shared machine)",
        "",
        "## Machine",
        "",
        as_markdown(machine),
    ]
    (out / "drift.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
