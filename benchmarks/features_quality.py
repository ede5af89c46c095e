"""Quick walk-forward check of the features' predictive quality (not the training pipeline).

    .venv/bin/python benchmarks/features_quality.py

Games: a standardized logistic regression, refit for every evaluation season on all earlier
seasons (2001-02 on; 2000-01 is the Elo burn-in), on (a) the reference inputs diff_elo +
diff_margin_avg_10 + diff_rest_days and (b) every column of GAME_FEATURES, built without the
player logs (the roster columns are 0, as before 2015-16). Seasons 2015-16..2020-21 are reported
as validation and 2021-22..2023-24 as test; the model choices themselves were made on 2018-19..
2020-21 (benchmarks/results/model_selection.md), not here.
Points: a standardized ridge on PLAYER_FEATURES, refit per season on earlier seasons (from
2015-16), against the last-10 average, on rotation players (season-to-date minutes >= 20).
Writes ``benchmarks/results/features_quality.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from features_data import games_from_team_games, load_player_games, load_team_games  # noqa: E402
from machine import as_markdown, describe  # noqa: E402

from features import GAME_FEATURES, PLAYER_FEATURES  # noqa: E402
from features.game import build_game_features  # noqa: E402
from features.player import build_player_features  # noqa: E402

VALIDATION = ("2015-16", "2016-17", "2017-18", "2018-19", "2019-20", "2020-21")
TEST = ("2021-22", "2022-23", "2023-24")
REFERENCE = ("diff_elo", "diff_margin_avg_10", "diff_rest_days")
FIRST_TRAIN = "2001-02"


def walk_forward_games(frame: pd.DataFrame, columns, seasons) -> dict[str, object]:
    probs, labels, per_season = [], [], {}
    for season in seasons:
        train = frame[(frame["season"] < season) & (frame["season"] >= FIRST_TRAIN)]
        test = frame[frame["season"] == season]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(train[list(columns)], train["home_win"])
        p = model.predict_proba(test[list(columns)])[:, 1]
        per_season[season] = {
            "log_loss": round(log_loss(test["home_win"], p), 4),
            "accuracy": round(accuracy_score(test["home_win"], p > 0.5), 4),
            "n": len(test),
        }
        probs.append(p)
        labels.append(test["home_win"].to_numpy())
    p, y = np.concatenate(probs), np.concatenate(labels)
    pooled = {
        "log_loss": round(log_loss(y, p), 4),
        "accuracy": round(accuracy_score(y, p > 0.5), 4),
    }
    return {"pooled": pooled, "seasons": per_season}


def walk_forward_points(frame: pd.DataFrame, seasons) -> dict[str, object]:
    rows = []
    for season in seasons:
        train = frame[frame["season"] < season]
        test = frame[frame["season"] == season]
        model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        model.fit(train[list(PLAYER_FEATURES)], train["pts"])
        rotation = test["min_avg_season"] >= 20
        pred = model.predict(test[list(PLAYER_FEATURES)])
        rows.append(
            pd.DataFrame(
                {
                    "season": season,
                    "ridge": np.abs(pred - test["pts"]),
                    "last10": np.abs(test["pts_avg_10"] - test["pts"]),
                    "rotation": rotation,
                }
            )
        )
    errors = pd.concat(rows)
    rot = errors[errors["rotation"]]
    ridge, last10 = rot["ridge"].mean(), rot["last10"].mean()
    return {
        "mae_rotation_ridge": round(ridge, 3),
        "mae_rotation_last10": round(last10, 3),
        "improvement_pct": round(100 * (1 - ridge / last10), 2),
        "mae_all_ridge": round(errors["ridge"].mean(), 3),
        "n_rotation": len(rot),
        "seasons": {
            s: {
                "ridge": round(g["ridge"].mean(), 3),
                "last10": round(g["last10"].mean(), 3),
            }
            for s, g in rot.groupby("season")
        },
    }


def render(result: dict) -> str:
    lines = [
        "# Feature quality (quick walk-forward check)",
        "",
        f"Run {result['date']} with `benchmarks/features_quality.py`. Each season is predicted by a "
        "model refit on all earlier seasons only. These are checks of the features, not the "
        "training pipeline's backtest.",
        "",
        "## Games: logistic regression (home win)",
        "",
        "| Inputs | Validation 2015-21 log loss | acc | Test 2021-24 log loss | acc |",
        "|---|---|---|---|---|",
    ]
    for name, res in result["game"].items():
        v, t = res["validation"]["pooled"], res["test"]["pooled"]
        lines.append(
            f"| {name} | {v['log_loss']:.4f} | {v['accuracy']:.4f} | {t['log_loss']:.4f} "
            f"| {t['accuracy']:.4f} |"
        )
    lines += ["", "Per test season (all GAME_FEATURES):", ""]
    for season, m in result["game"]["all GAME_FEATURES"]["test"]["seasons"].items():
        lines.append(f"- {season}: log loss {m['log_loss']:.4f}, accuracy {m['accuracy']:.4f}")
    lines += [
        "",
        "## Points: ridge on PLAYER_FEATURES vs the last-10 average (rotation players)",
        "",
    ]
    lines += ["| Seasons | Ridge MAE | Last-10 MAE | Improvement |", "|---|---|---|---|"]
    for name, res in result["points"].items():
        lines.append(
            f"| {name} | {res['mae_rotation_ridge']:.3f} | {res['mae_rotation_last10']:.3f} "
            f"| {res['improvement_pct']:.1f}% |"
        )
    lines += ["", "## Machine", "", as_markdown(result["machine"])]
    return "\n".join(lines)


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    team_games = load_team_games()
    games = games_from_team_games(team_games)
    frame = build_game_features(games, team_games)
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "game": {},
        "points": {},
    }
    for name, columns in (
        ("reference: diff_elo + diff_margin_avg_10 + diff_rest_days", REFERENCE),
        ("all GAME_FEATURES", GAME_FEATURES),
    ):
        result["game"][name] = {
            "validation": walk_forward_games(frame, columns, VALIDATION),
            "test": walk_forward_games(frame, columns, TEST),
        }
    players = build_player_features(load_player_games(), team_games, games)
    result["points"]["validation 2018-21"] = walk_forward_points(
        players, ("2018-19", "2019-20", "2020-21")
    )
    result["points"]["test 2021-24"] = walk_forward_points(players, TEST)
    result["machine"] = describe(("pandas", "numpy", "scikit-learn"))
    out = HERE / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "features_quality.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "features_quality.md").write_text(render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
