"""Benchmark: vectorized game features vs a per-game reference loop, on all 24 shared seasons.

    .venv/bin/python benchmarks/features_benchmark.py [--sample 300] [--repeats 3]

Times ``build_game_features`` on every regular-season game 2000-01..2023-24 with and without
the player logs (best of ``--repeats``), ``build_player_features`` on every player-game
2015-16..2023-24, and the reference loop (``features_reference.py``) on a random sample of
games; checks that both agree on the sample and writes ``benchmarks/results/features.json`` and ``features.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from features_data import (  # noqa: E402
    data_dir,
    games_from_team_games,
    load_player_games,
    load_team_games,
)
from features_reference import reference_game_features  # noqa: E402
from machine import as_markdown, describe  # noqa: E402

from features.game import build_game_features  # noqa: E402
from features.player import build_player_features  # noqa: E402

TARGET_SECONDS = 5.0
TARGET_SPEEDUP = 20.0


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def compare(vectorized: pd.DataFrame, reference: pd.DataFrame) -> dict[str, object]:
    vec = vectorized.set_index("game_id").loc[reference["game_id"]]
    ref = reference.set_index("game_id")
    columns = [c for c in ref.columns if c in vec.columns]
    worst = {c: float(np.max(np.abs(vec[c].to_numpy() - ref[c].to_numpy()))) for c in columns}
    return {
        "columns_compared": len(columns),
        "max_abs_diff": max(worst.values()),
        "worst_column": max(worst, key=worst.get),
        "agree": bool(max(worst.values()) < 1e-6),
    }


def render_markdown(result: dict) -> str:
    m, g, p, r = result["machine"], result["game"], result["player"], result["reference"]
    full = result["game_with_rosters"]
    return "\n".join(
        [
            "# Feature benchmark",
            "",
            f"Run {result['machine']['date']} with `benchmarks/features_benchmark.py` on the shared "
            f"snapshot ({g['seasons']} regular seasons of team logs, {g['games']:,} games).",
            "",
            "## Method",
            "",
            "- `build_game_features(games, team_games, player_games=player_games)` on every game, "
            "as the training flow and the service call it (the roster features from the player "
            f"logs included; best of {result['repeats']} runs, data already in memory); and "
            "`build_game_features(games, team_games)` without the player logs (every roster "
            "unknown), the same features the reference computes one game at a time.",
            "- `build_player_features(player_games, team_games, games)` on every player-game of "
            f"{p['seasons']} seasons ({p['rows']:,} rows), best of {result['repeats']}.",
            "- The reference (`benchmarks/features_reference.py`) computes the non-Elo game "
            "features one game at a time by filtering the team log; it runs on a random sample of "
            f"{r['sample']} games and its time per game is extrapolated to all games.",
            "- Both are compared on the sample (max absolute difference over "
            f"{r['columns_compared']} columns).",
            "",
            "## Machine",
            "",
            as_markdown(m).rstrip("\n"),
            "",
            "## Figures",
            "",
            "| Measure | Value | Target |",
            "|---|---|---|",
            f"| build_game_features with the player logs, all games | {full['seconds']:.2f} s "
            f"| < {TARGET_SECONDS:.0f} s |",
            f"| build_game_features without them, all games | {g['seconds']:.2f} s | |",
            f"| vectorized per game (without them) | {g['us_per_game']:.1f} us | |",
            f"| build_player_features, all player-games | {p['seconds']:.2f} s | |",
            f"| reference per game | {r['ms_per_game']:.1f} ms | |",
            f"| reference extrapolated to all games | {r['extrapolated_seconds']:.0f} s | |",
            f"| speedup per game | {result['speedup']:.0f}x | >= {TARGET_SPEEDUP:.0f}x |",
            f"| max abs difference on the sample | {r['max_abs_diff']:.2e} ({r['worst_column']}) "
            "| < 1e-6 |",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if not (data_dir() / "team_game_logs").is_dir():
        print(f"no snapshot at {data_dir()} (set NBA_DATA_DIR)", file=sys.stderr)
        return 2

    team_games = load_team_games()
    games = games_from_team_games(team_games)
    player_games = load_player_games()
    full_seconds, _ = best_time(
        lambda: build_game_features(games, team_games, player_games=player_games), args.repeats
    )
    game_seconds, features = best_time(lambda: build_game_features(games, team_games), args.repeats)
    player_seconds, _ = best_time(
        lambda: build_player_features(player_games, team_games, games), args.repeats
    )

    sample = games.sample(n=args.sample, random_state=args.seed)
    start = time.perf_counter()
    reference = reference_game_features(sample, team_games)
    ref_seconds = time.perf_counter() - start
    check = compare(features, reference)

    vec_per_game = game_seconds / len(games)
    ref_per_game = ref_seconds / len(sample)
    result = {
        "machine": describe(),
        "repeats": args.repeats,
        "game_with_rosters": {
            "games": len(games),
            "player_game_rows": len(player_games),
            "seconds": round(full_seconds, 3),
            "target_seconds": TARGET_SECONDS,
            "meets_target": full_seconds < TARGET_SECONDS,
        },
        "game": {
            "seasons": team_games["season"].nunique(),
            "games": len(games),
            "seconds": round(game_seconds, 3),
            "us_per_game": round(vec_per_game * 1e6, 2),
        },
        "player": {
            "seasons": player_games["season"].nunique(),
            "rows": len(player_games),
            "seconds": round(player_seconds, 3),
        },
        "reference": {
            "sample": len(sample),
            "seconds": round(ref_seconds, 3),
            "ms_per_game": round(ref_per_game * 1e3, 3),
            "extrapolated_seconds": round(ref_per_game * len(games), 1),
            **check,
        },
        "speedup": round(ref_per_game / vec_per_game, 1),
        "target_speedup": TARGET_SPEEDUP,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "features.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "features.md").write_text(render_markdown(result))
    print(render_markdown(result))
    ok = (
        check["agree"]
        and result["game_with_rosters"]["meets_target"]
        and result["speedup"] >= TARGET_SPEEDUP
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
