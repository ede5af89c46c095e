"""A short season replay (two weeks of real games) under the Prefect test harness."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from core.db import DriftReport, Prediction, make_engine
from core.settings import Settings
from flows.replay import plan_replay, replay_flow
from ingest.storage import read_games, read_player_games, read_team_games

pytestmark = pytest.mark.usefixtures("prefect_harness")
DAYS = 15


@pytest.fixture(scope="module")
def replay(data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    user = root / "user"  # the user's own store and registry: the replay must not touch them
    settings = Settings(
        data_dir=data_dir,
        state_dir=user,
        database_url=f"sqlite:///{user / 'nba.db'}",
        mlflow_tracking_uri=f"sqlite:///{user / 'mlflow.db'}",
    )
    state = root / "state"
    run = {
        "season": "2022-23",
        "trained_through": "2021-22",
        "first_season": "2020-21",
        "points": False,
        "state_dir": str(state),
        "out": str(root / "out"),
        "settings": settings,
    }
    # A replay stopping before the season's first day is refused before it ingests anything,
    # so the same state folder takes the corrected run.
    with pytest.raises(ValueError, match="--until 2022-09-30 is outside the season") as refused:
        replay_flow(**run, until=date(2022, 9, 30))
    left = sorted(p.name for p in state.iterdir()) if state.exists() else None
    summary = replay_flow(**run, max_days=DAYS)
    return summary, root, user, (str(refused.value), left)


def test_the_replay_predicts_every_game_once_then_stores_it(replay):
    summary, _, user, _ = replay
    doc = summary.as_dict()
    engine = make_engine(f"sqlite:///{summary.state_dir}/nba.db")
    games = read_games(engine)
    season = games.loc[games["season"] == "2022-23"]
    assert doc["days"] == DAYS and season["game_date"].nunique() == DAYS
    assert doc["games_predicted"] == len(season) > 100
    with engine.connect() as conn:
        per_model = dict(
            conn.execute(
                select(Prediction.model_name, func.count()).group_by(Prediction.model_name)
            ).all()
        )
        game_ids = [
            r[0]
            for r in conn.execute(
                select(Prediction.game_id).where(Prediction.model_name == "game-logistic")
            )
        ]
    assert per_model["game-logistic"] == len(season) and sorted(game_ids) == sorted(
        season["game_id"]
    )
    assert set(per_model) == {"game-logistic"} and doc["player_predictions"] == 0
    assert not (user / "nba.db").exists() and not (user / "mlflow.db").exists()


def test_logged_features_only_used_earlier_games(replay):
    """Each day was predicted from the store as it stood that morning: the logged feature
    vectors equal the features computed afterwards from the whole store, which only holds
    rows of earlier dates for each game."""
    from features import GAME_FEATURES, build_game_features

    summary, *_ = replay
    engine = make_engine(f"sqlite:///{summary.state_dir}/nba.db")
    full = build_game_features(
        read_games(engine), read_team_games(engine), player_games=read_player_games(engine)
    ).set_index("game_id")
    with engine.connect() as conn:
        logged = conn.execute(
            select(Prediction.game_id, Prediction.inputs).where(
                Prediction.model_name == "game-logistic"
            )
        ).all()
    vectors = pd.DataFrame(
        [inputs["features"] for _, inputs in logged], index=[gid for gid, _ in logged]
    )[list(GAME_FEATURES)]
    diff = np.abs(
        vectors.to_numpy(float) - full.loc[vectors.index, list(GAME_FEATURES)].to_numpy(float)
    )
    assert diff.max() < 1e-9


def test_weekly_checks_and_the_summary(replay):
    summary, root, *_ = replay
    doc = json.loads((root / "out" / "summary.json").read_text())
    assert [c["as_of"] for c in doc["checks"]] == ["2022-10-25", "2022-11-01"]
    games = doc["games"]
    assert set(games["metrics"]) == {"model", "baseline-home", "baseline-elo"}
    assert games["metrics"]["model"]["n"] == doc["games_predicted"]
    for metrics in games["metrics"].values():
        assert 0 < metrics["log_loss"] < 1 and 0 < metrics["brier"] < 0.5
    assert doc["champions"][0]["version"] == "1"
    engine = make_engine(f"sqlite:///{summary.state_dir}/nba.db")
    with engine.connect() as conn:
        as_of = {r[0]["as_of"] for r in conn.execute(select(DriftReport.summary))}
    assert as_of == {"2022-10-25", "2022-11-01"}
    md = (root / "out" / "summary.md").read_text()
    assert "| baseline-elo |" in md and "## Retrains and promotions" in md


def test_a_refused_replay_leaves_the_state_folder_to_the_corrected_run(replay):
    summary, root, _, (reason, left) = replay
    assert "2022-23 regular runs 2022-10-18..2023-04-09" in reason
    assert left is None  # the refused run made nothing, not even the folder
    assert summary.state_dir == str(root / "state") and summary.doc["days"] == DAYS


def test_a_stopped_replay_says_what_it_left(replay, tmp_path):
    """SIGTERM's line: before the first day nothing is left; after it the state folder is
    kept, and a new run needs another one (the command refuses a folder holding a store)."""
    from flows.monitoring_cli import _replay_stopped

    _, root, _, _ = replay
    assert _replay_stopped(tmp_path / "not-made") == "nothing half-written was kept"
    assert _replay_stopped(root / "state") == (
        f"the days replayed so far are kept in {root / 'state'}; "
        "a new replay needs a new --state-dir"
    )


def test_player_points_are_predicted_from_earlier_games_only(tmp_path):
    """The points path of a replay day on a small synthetic league: one prediction per player
    who plays that day, from the same features the whole history gives those rows."""
    from evaluation.intervals import fit_interval
    from features import PLAYER_FEATURES, build_player_features
    from flows.replay import Mirror, points_rows, predict_points
    from ingest.normalize import games_from_team_games, normalize_player_games, normalize_team_games
    from tests.builders import player_game_log, team_game_log
    from training.models import make_model

    raw = team_game_log("2022-23", n_days=20, seed=5)
    team_games = normalize_team_games(raw, "2022-23", "regular")
    player_games = normalize_player_games(player_game_log(raw), "2022-23", "regular")
    games = games_from_team_games(team_games)
    day = games["game_date"].max()
    before = {
        n: f.loc[f["game_date"] < day]
        for n, f in {"g": games, "t": team_games, "p": player_games}.items()
    }
    history = build_player_features(before["p"], before["t"], before["g"])
    model = make_model("player-ridge", None, PLAYER_FEATURES).fit(history, history["pts"])

    mirror = Mirror(before["g"], before["t"], before["p"])
    day_games, day_players = (
        games.loc[games["game_date"] == day],
        player_games.loc[player_games["game_date"] == day],
    )
    feats, points = predict_points.fn(mirror, day_games, day_players, model)
    assert sorted(feats["player_id"]) == sorted(day_players["player_id"])
    assert feats["pts"].isna().all() and (points >= 0).all()
    full = build_player_features(player_games, team_games, games).set_index(
        ["game_id", "player_id"]
    )
    expected = full.loc[
        list(zip(feats["game_id"], feats["player_id"], strict=True)), list(PLAYER_FEATURES)
    ]
    assert (
        np.abs(feats[list(PLAYER_FEATURES)].to_numpy(float) - expected.to_numpy(float)).max() < 1e-9
    )

    rows = points_rows(
        feats, points, day_games, "player-ridge", "1", list(PLAYER_FEATURES), day.date()
    )
    assert {r["player_id"] for r in rows} == set(day_players["player_id"])
    home = dict(zip(day_games["game_id"], day_games["home_team_id"], strict=True))
    assert all(r["home_team_id"] == home[r["game_id"]] for r in rows)
    assert all(r["outputs"]["predicted_points"] >= 0 for r in rows)
    assert all("interval" not in r["outputs"] for r in rows)  # a version without one
    # with the version's interval: each row logs it as the service answers it
    interval = fit_interval(history["pts"], model.predict(history), basis="test")
    rows = points_rows(
        feats,
        points,
        day_games,
        "player-ridge",
        "1",
        list(PLAYER_FEATURES),
        day.date(),
        interval=interval,
        eval_season="2022-23",
    )
    for r in rows:
        predicted = r["outputs"]["predicted_points"]
        assert r["outputs"]["interval"] == interval.answer(predicted, "2022-23")
        assert r["outputs"]["interval"]["low"] <= predicted <= r["outputs"]["interval"]["high"]


def test_replay_command_refuses_a_state_folder_holding_a_store(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from flows.cli import EXIT_BAD_INPUT, app

    monkeypatch.setenv("NBA_STATE_DIR", str(tmp_path / "user"))
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "nba.db").write_text("")
    reused = CliRunner().invoke(app, ["replay", "--state-dir", str(tmp_path / "used")])
    assert reused.exit_code == EXIT_BAD_INPUT and "already holds a store" in reused.output


# Each bad argument is refused in about a second, before the state folder is made or anything is
# ingested (ingesting and training the history alone take 30 s to minutes). A reason naming the
# data folder has it in place of ``{data}``.
GOOD = ["--season", "2023-24", "--trained-through", "2022-23"]
BAD_ARGUMENTS = {
    "season-not-in-snapshot": (
        ["--season", "2024-25", "--trained-through", "2023-24", "--first-season", "2022-23"],
        "season 2024-25 is not in the snapshot {data}",
    ),
    "season-malformed": (["--season", "2024", "--trained-through", "2023-24"], "--season: season"),
    "trained-through-not-before": (
        ["--season", "2022-23", "--trained-through", "2023-24"],
        "--trained-through 2023-24 must be before --season 2022-23",
    ),
    "trained-through-not-in-snapshot": (
        ["--season", "2023-24", "--trained-through", "1999-00"],
        "--trained-through 1999-00 is not in the snapshot {data} (2000-01..",
    ),
    "first-season-after-trained-through": (
        ["--season", "2023-24", "--trained-through", "2021-22", "--first-season", "2022-23"],
        "--first-season 2022-23 is after --trained-through 2021-22",
    ),
    "first-season-is-trained-through": (
        [*GOOD, "--first-season", "2022-23"],
        "--first-season 2022-23 leaves no season before --trained-through 2022-23 to train on",
    ),
    "first-season-not-in-snapshot": (
        [*GOOD, "--first-season", "1990-91"],
        "--first-season 1990-91 is not in the snapshot {data} (2000-01..",
    ),
    "until-before-the-season": (
        [*GOOD, "--until", "2023-10-01"],
        "--until 2023-10-01 is outside the season: 2023-24 regular runs 2023-10-24..2024-04-14",
    ),
    "until-after-the-regular-season": (
        [*GOOD, "--until", "2024-05-01"],
        "--until 2024-05-01 is outside the season",
    ),
    "until-after-the-playoffs": (
        [*GOOD, "--season-type", "all", "--until", "2024-07-01"],
        "2023-24 regular/playoffs runs 2023-10-24..2024-06-17",
    ),
    "no-day": ([*GOOD, "--days", "0"], "--days must be >= 1, got 0"),
    "negative-days": ([*GOOD, "--days", "-3"], "--days must be >= 1, got -3"),
    "more-days-than-the-season": (
        [*GOOD, "--days", "400"],
        "--days 400 is more than the 160 game days",
    ),
    "more-days-than-until-leaves": (
        [*GOOD, "--until", "2023-10-25", "--days", "3"],
        "--days 3 is more than the 2 game days through 2023-10-25",
    ),
    "points-model-without-points": (
        [*GOOD, "--models", "game-logistic,player-ridge"],
        "add --points",
    ),
    "unknown-model": (
        [*GOOD, "--models", "game-logistic,xgb"],
        "--models: unknown ['xgb']",
    ),
    "no-drift-check": (
        [*GOOD, "--drift-every", "0"],
        "--drift-every must be >= 1, got 0",
    ),
    "window-longer-than-a-year": (
        [*GOOD, "--window-days", "400"],
        "--window-days must be 1 to 365, got 400",
    ),
}


# These need no season's rows: the command refuses them before a flow run starts.
BEFORE_THE_FLOW_RUN = {
    "season-not-in-snapshot",
    "season-malformed",
    "trained-through-not-before",
    "trained-through-not-in-snapshot",
    "first-season-after-trained-through",
    "first-season-is-trained-through",
    "first-season-not-in-snapshot",
    "negative-days",
    "points-model-without-points",
    "unknown-model",
    "no-drift-check",
    "window-longer-than-a-year",
}


# A refusal reads at most one season's file; a replay past its checks ingests and trains for
# minutes. The bound leaves room for a loaded machine (a refusal inside a flow run took 6.5 s
# with three test processes on two cores).
REFUSAL_SECONDS = 20


def invoke_replay(args: list[str], data_dir, tmp_path, monkeypatch, flow_run: bool = False):
    """``nba-mlops replay ARGS`` on the shared snapshot, the user's state under ``tmp_path``: its
    result, once checked that it came back within ``REFUSAL_SECONDS``. Unless ``flow_run``,
    starting one fails it."""
    from typer.testing import CliRunner

    import flows.replay
    from flows.cli import app

    if not flow_run:

        def no_flow_run(**kwargs):
            raise AssertionError("the flow run started")

        monkeypatch.setattr(flows.replay, "replay_flow", no_flow_run)
    monkeypatch.setenv("NBA_DATA_DIR", str(data_dir))
    monkeypatch.setenv("NBA_STATE_DIR", str(tmp_path / "user"))
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["replay", *args])
    seconds = time.perf_counter() - started
    assert seconds < REFUSAL_SECONDS, f"refused after {seconds:.1f} s"
    return result


@pytest.mark.parametrize("case", BAD_ARGUMENTS)
def test_bad_replay_arguments_fail_before_anything_is_made(case, data_dir, tmp_path, monkeypatch):
    from flows.cli import EXIT_BAD_INPUT

    args, reason = BAD_ARGUMENTS[case]
    state, out = tmp_path / "state", tmp_path / "out"
    result = invoke_replay(
        [*args, "--state-dir", str(state), "--out", str(out)],
        data_dir,
        tmp_path,
        monkeypatch,
        flow_run=case not in BEFORE_THE_FLOW_RUN,
    )
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert reason.format(data=data_dir) in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not state.exists() and not out.exists()


# A state or output folder that cannot be one: ``{file}`` is a file, ``{out}`` a free path.
BAD_FOLDERS = {
    "state-dir-is-a-file": (
        ["--state-dir", "{file}", "--out", "{out}"],
        "--state-dir: {file} is a file, not a folder",
    ),
    "out-is-a-file": (["--out", "{file}"], "--out: {file} is a file, not a folder"),
    "out-under-a-file": (
        ["--out", "{file}/x"],
        "--out: cannot make the folder {file}/x (Not a directory",
    ),
    "state-dir-nowhere": (
        ["--state-dir", "/proc/nope/x", "--out", "{out}"],
        "--state-dir: cannot make the folder /proc/nope/x (No such file or directory: /proc/nope)",
    ),
}


@pytest.mark.parametrize("case", BAD_FOLDERS)
def test_a_folder_option_that_cannot_be_a_folder_fails_before_the_flow_run(
    case, data_dir, tmp_path, monkeypatch
):
    from flows.cli import EXIT_BAD_INPUT

    if "/proc/" in str(BAD_FOLDERS[case]) and not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    file = tmp_path / "notes.txt"
    file.write_text("mine")
    names = {"file": file, "out": tmp_path / "out"}
    args, reason = BAD_FOLDERS[case]
    result = invoke_replay(
        [*GOOD, *(a.format(**names) for a in args)], data_dir, tmp_path, monkeypatch
    )
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert reason.format(**names) in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert file.read_text() == "mine" and not (tmp_path / "out").exists()


def small_snapshot(folder: Path, seasons: tuple[str, ...]) -> Path:
    """A snapshot folder holding a short regular season of team logs for each of ``seasons``."""
    from tests.builders import team_game_log, write_snapshot

    logs = {s: team_game_log(s, n_days=10, seed=i) for i, s in enumerate(seasons)}
    return write_snapshot(folder, logs, players=False)


def plan(data: Path, tmp_path: Path, **changes) -> None:
    """``plan_replay`` of 2022-23 trained through 2021-22 on the snapshot ``data``."""
    args = {
        "season": "2022-23",
        "trained_through": "2021-22",
        "state_dir": None,
        "out": str(tmp_path / "out"),
        "first_season": None,
        "points": False,
        "models": None,
        "season_type": "regular",
        "drift_every_days": 7,
        "window_days": 14,
        "cooldown_days": 28,
        "settings": Settings(data_dir=data, state_dir=tmp_path / "user"),
    }
    plan_replay(**(args | changes))


def test_the_plan_refuses_a_history_with_a_season_missing_and_a_negative_day_count(tmp_path):
    data = small_snapshot(tmp_path / "data", ("2018-19", "2020-21", "2021-22", "2022-23"))
    plan(data, tmp_path, first_season="2020-21", max_days=1)  # no gap: accepted
    gap = f"season(s) 2019-20 of the history 2018-19:2021-22 are not in the snapshot {data}"
    with pytest.raises(ValueError, match=re.escape(gap)):
        plan(data, tmp_path)
    with pytest.raises(ValueError, match="--days must be >= 1, got -3"):
        plan(data, tmp_path, first_season="2020-21", max_days=-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # nothing made


@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "user-folder"])
def test_a_replay_failing_in_its_setup_removes_what_it_made(existing, tmp_path):
    """A history season that cannot be read fails the ingest once the replay's store is made:
    the error names the file in the data folder, what the replay made is removed (the user's
    file and the data folder stay as they were), and the same run, once the file is repaired,
    goes through."""
    from ingest.errors import SourceDataError
    from tests.builders import damage_file

    data = small_snapshot(tmp_path / "data", ("2020-21", "2021-22", "2022-23"))
    broken = data / "team_game_logs" / "regular_season" / "2020-21.csv.gz"
    good = broken.read_bytes()
    damage_file(broken, "header only")
    files = sorted(p.relative_to(data) for p in data.rglob("*"))
    out = tmp_path / "replay"
    if existing:
        (out / "state").mkdir(parents=True)
        (out / "state" / "notes.txt").write_text("mine")
    run = {
        "season": "2022-23",
        "trained_through": "2021-22",
        "out": str(out),
        "max_days": 1,
        "settings": Settings(data_dir=data, state_dir=tmp_path / "user"),
    }
    with pytest.raises(SourceDataError) as refused:
        replay_flow(**run)
    assert str(refused.value).startswith(f"{broken} (2020-21 regular)")  # the user's file
    if existing:
        assert [p.name for p in (out / "state").iterdir()] == ["notes.txt"]
    else:
        assert not out.exists()
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == files
    broken.write_bytes(good)
    summary = replay_flow(**run)
    assert summary.doc["days"] == 1 and (out / "summary.json").exists()
