"""Walk-forward backtest of the six models and five baselines on the shared snapshot.

    .venv/bin/python benchmarks/model_backtest.py                # validation seasons
    .venv/bin/python benchmarks/model_backtest.py --split test   # test seasons (final check)

Builds the features of every regular season (games 2000-01..2023-24, players 2015-16..2023-24)
with ``features.build_game_features`` (given the player logs, for the roster features) /
``build_player_features`` and runs
``training.backtest.walk_forward`` with ``DEFAULT_PARAMS``: for each season S, every model is
trained on all seasons before S and scored on S. Model choices are made on the validation split
(2018-19, 2019-20, 2020-21); the test split (2021-22, 2022-23, 2023-24) is for the final report
only. Writes ``benchmarks/results/model_<split>.json`` (the CONTRACTS backtest JSON plus the
targets check) and ``model_<split>.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from features_data import (  # noqa: E402
    data_dir,
    games_from_team_games,
    load_player_games,
    load_team_games,
)
from machine import as_markdown, describe  # noqa: E402

from features.game import build_game_features  # noqa: E402
from features.player import build_player_features  # noqa: E402
from training.backtest import walk_forward  # noqa: E402
from training.models import GAME_MODELS, POINTS_MODELS  # noqa: E402

SPLITS = {
    "validation": ("2018-19", "2019-20", "2020-21"),
    "test": ("2021-22", "2022-23", "2023-24"),
}
# The targets of the model-quality work (means over the test seasons).
TARGETS = {"accuracy": 0.655, "log_loss": 0.620, "brier": 0.216}
TARGET_MAE_ROTATION = 5.10
TARGET_BELOW_LAST10 = 0.04


def targets_check(doc: dict) -> dict[str, object]:
    """The best game model and the best points model against the targets (means over seasons)."""
    game = {n: doc["game"][n]["mean"] for n in GAME_MODELS if n in doc.get("game", {})}
    points = {n: doc["points"][n]["mean"] for n in POINTS_MODELS if n in doc.get("points", {})}
    out: dict[str, object] = {}
    if game:
        best = min(game, key=lambda n: game[n]["log_loss"])
        m = game[best]
        out["game"] = {
            "model": best,
            **{k: m[k] for k in TARGETS},
            "met": {
                "accuracy": m["accuracy"] >= TARGETS["accuracy"],
                "log_loss": m["log_loss"] <= TARGETS["log_loss"],
                "brier": m["brier"] <= TARGETS["brier"],
            },
        }
    if points:
        best = min(points, key=lambda n: points[n]["mae_rotation"])
        mae = points[best]["mae_rotation"]
        last10 = doc["points"]["baseline-last10"]["mean"]["mae_rotation"]
        below = 1.0 - mae / last10
        out["points"] = {
            "model": best,
            "mae_rotation": mae,
            "baseline_last10_mae_rotation": last10,
            "below_last10": below,
            "met": {
                "mae_rotation": mae <= TARGET_MAE_ROTATION,
                "below_last10": below >= TARGET_BELOW_LAST10,
            },
        }
    return out


def render_check(check: dict) -> list[str]:
    lines = ["## Targets (means over the seasons of this split)", ""]
    lines += ["| Task | Model | Measure | Value | Target | Met |", "|---|---|---|---|---|---|"]
    if "game" in check:
        g = check["game"]
        for key, label, fmt, sign in (
            ("accuracy", "accuracy", "{:.1%}", ">="),
            ("log_loss", "log loss", "{:.4f}", "<="),
            ("brier", "Brier", "{:.4f}", "<="),
        ):
            target = fmt.format(TARGETS[key])
            lines.append(
                f"| game | {g['model']} | {label} | {fmt.format(g[key])} | {sign} {target} | "
                f"{'yes' if g['met'][key] else 'no'} |"
            )
    if "points" in check:
        p = check["points"]
        lines.append(
            f"| points | {p['model']} | rotation MAE | {p['mae_rotation']:.3f} | "
            f"<= {TARGET_MAE_ROTATION:.2f} | {'yes' if p['met']['mae_rotation'] else 'no'} |"
        )
        lines.append(
            f"| points | {p['model']} | below baseline-last10 "
            f"({p['baseline_last10_mae_rotation']:.3f}) | {p['below_last10']:.1%} | "
            f">= {TARGET_BELOW_LAST10:.0%} | {'yes' if p['met']['below_last10'] else 'no'} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=sorted(SPLITS), default="validation")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if not (data_dir() / "team_game_logs").is_dir():
        print(f"no snapshot at {data_dir()} (set NBA_DATA_DIR)", file=sys.stderr)
        return 2

    started = time.perf_counter()
    team_games = load_team_games()
    games = games_from_team_games(team_games)
    player_games = load_player_games()
    game_frame = build_game_features(games, team_games, player_games=player_games)
    player_frame = build_player_features(player_games, team_games, games)
    result = walk_forward(game_frame, player_frame, SPLITS[args.split])
    doc = result.to_dict()
    check = targets_check(doc)
    seconds = time.perf_counter() - started

    header = [
        f"# Model backtest: {args.split} seasons",
        "",
        f"Run {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} with "
        f"`benchmarks/model_backtest.py --split {args.split}` on the regular seasons of the "
        f"shared snapshot ({seconds:.0f} s, features included).",
        "",
    ]
    if args.split == "validation":
        header += [
            "The backtest report below calls every scored season a test season: here they are "
            "the validation seasons, the only ones model choices were made on.",
            "",
        ]
    body = result.to_markdown().split("\n", 2)[2]  # drop the report's own title
    machine = describe(("pandas", "numpy", "scikit-learn"))
    text = "\n".join(
        [*header, *render_check(check), "", body.lstrip("\n").rstrip("\n"), "", "## Machine", ""]
    )
    text += "\n" + as_markdown(machine)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"model_{args.split}.json").write_text(
        json.dumps(
            {"split": args.split, "targets": check, "backtest": doc, "machine": machine}, indent=2
        )
        + "\n"
    )
    (args.out / f"model_{args.split}.md").write_text(text)
    print("\n".join(render_check(check)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
