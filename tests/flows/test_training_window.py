"""The in-season evaluation window of ``training_flow``: which games it holds (never one the
challenger or the champion was fit on), when there is none, and a retrain judged on it end to
end (real store, real MLflow registry, real gate, under the Prefect test harness)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from flows.training import champion_fit_through, plan_window
from registry.versions import ModelVersionInfo
from tests.training.training_synthetic import GAME_FEATURES, make_game_frame
from training.backtest import fit_estimator
from training.train import EvalWindow, choose_window, score_window

SEASONS = ("2017-18", "2018-19", "2019-20")
CURRENT = SEASONS[-1]


@pytest.fixture(scope="module")
def under_way() -> pd.DataFrame:
    """Three synthetic seasons; the newest stops after 30 game days, before its playoffs."""
    frame = make_game_frame(seasons=SEASONS, games_per_season=300, n_teams=10, seed=3)
    current = frame["season"] == CURRENT
    first = frame.loc[current, "game_date"].min()
    keep = ~current | (
        (frame["season_type"] == "regular") & (frame["game_date"] < first + pd.Timedelta(days=30))
    )
    return frame.loc[keep].reset_index(drop=True)


def _info(tags: dict[str, str], train_seasons=SEASONS[:-1]) -> ModelVersionInfo:
    return ModelVersionInfo(
        name="game-logistic",
        version="1",
        run_id="r1",
        source="models:/m-1",
        aliases=("champion",),
        tags={"task": "game", "train_seasons": ",".join(train_seasons), **tags},
        metrics={},
    )


class Recorder:
    """A fitted model that remembers the rows it was asked to score."""

    def __init__(self, model):
        self.model = model
        self.rows: list[pd.DataFrame] = []

    def predict_proba(self, frame):
        self.rows.append(frame)
        return self.model.predict_proba(frame)


@pytest.mark.parametrize("champion_days_in", [None, 20])
def test_the_window_holds_no_game_the_challenger_or_champion_was_fit_on(
    under_way, monkeypatch, champion_days_in
):
    """Champion fit through the previous season (``None``) or through day 20 of the current
    one: the window starts after max(D - 14, the champion's fit) (or, when that leaves the
    challenger no new game, in the middle of the game days since the fit), the challenger is
    fit on rows dated up to its start only, and both are scored on exactly the window's rows."""
    import training.train as train_module

    season_rows = under_way.loc[under_way["season"] == CURRENT]
    first, last = season_rows["game_date"].min(), season_rows["game_date"].max()
    if champion_days_in is None:
        champion_fit = under_way.loc[under_way["season"] == SEASONS[1], "game_date"].max()
    else:
        champion_fit = first + pd.Timedelta(days=champion_days_in)
    window, why = choose_window(
        under_way, "game", CURRENT, champion_fit_through=champion_fit, days=14, min_games=20
    )
    assert window is not None, why
    assert window.through == last
    if champion_days_in is None:
        assert window.fit_through == last - pd.Timedelta(days=14)
    else:  # every game since the fit is in the last 14 days: the window is their later half
        new_days = np.sort(season_rows.loc[season_rows["game_date"] > champion_fit, "game_date"])
        new_days = np.unique(new_days)
        assert window.fit_through == new_days[len(new_days) // 2 - 1] > champion_fit

    fitted: list[pd.DataFrame] = []

    def spy(name, train, **kwargs):
        fitted.append(train)
        return fit_estimator(name, train, **kwargs)

    monkeypatch.setattr(train_module, "fit_estimator", spy)
    old = under_way.loc[under_way["season"] != CURRENT]
    champion = Recorder(fit_estimator("game-logistic", old, feature_names=GAME_FEATURES))
    scores = score_window("game-logistic", under_way, window, champion, feature_names=GAME_FEATURES)

    (train,) = fitted
    (scored,) = champion.rows
    assert train["game_date"].max() <= window.fit_through < scored["game_date"].min()
    assert scored["game_date"].min() > champion_fit
    assert not set(train["game_id"]) & set(scored["game_id"])
    expected = season_rows.loc[season_rows["game_date"] > window.fit_through, "game_id"]
    assert sorted(scored["game_id"]) == sorted(expected)
    # the challenger learned from this season's games before the window
    assert (train["season"] == CURRENT).any()
    assert scores.n_games == len(expected) == scores.challenger["n"] == scores.champion["n"]
    assert scores.challenger["log_loss"] != scores.champion["log_loss"]


def test_an_empty_window_is_an_error(under_way):
    """A window with no game after its start is refused, not scored on nothing."""
    season_rows = under_way.loc[under_way["season"] == CURRENT]
    last = season_rows["game_date"].max()
    bad = EvalWindow(season=CURRENT, fit_through=last, through=last)
    with pytest.raises(ValueError, match="0 scored"):
        score_window("game-logistic", under_way, bad, None, feature_names=GAME_FEATURES)


@pytest.mark.parametrize(
    ("champion_fit", "days", "min_games", "why"),
    [
        ("last", 14, 20, "no game of 2019-20 after the champion's fit"),
        ("previous", 14, 10_000, "games (< 10000)"),
        ("previous", 0, 20, "in-season window off"),
    ],
)
def test_no_window_and_why(under_way, champion_fit, days, min_games, why):
    dates = under_way.groupby("season")["game_date"].max()
    fit = dates[CURRENT] if champion_fit == "last" else dates[SEASONS[1]]
    window, reason = choose_window(
        under_way, "game", CURRENT, champion_fit_through=fit, days=days, min_games=min_games
    )
    assert window is None and why in reason


def test_a_window_holding_every_new_game_is_cut_so_the_challenger_learns_from_some(under_way):
    """The window would start at the champion's fit (every game since is in it): the challenger
    would be the champion's own fit and score the same. The window is the later half of the
    game days since the fit instead, and the challenger is fit on the earlier half."""
    fit = under_way.loc[under_way["season"] == SEASONS[1], "game_date"].max()
    season_days = np.sort(under_way.loc[under_way["season"] == CURRENT, "game_date"].unique())
    window, why = choose_window(
        under_way, "game", CURRENT, champion_fit_through=fit, days=365, min_games=20
    )
    assert window is not None and window.through == season_days[-1]
    assert window.fit_through == season_days[len(season_days) // 2 - 1] > fit
    assert f"the later half of the {len(season_days)} game days since the champion's fit" in why
    # a shorter window that leaves the challenger some new games is kept as it is
    window, why = choose_window(
        under_way, "game", CURRENT, champion_fit_through=fit, days=7, min_games=20
    )
    assert window.fit_through == season_days[-1] - pd.Timedelta(days=7) and "half" not in why
    # one game day since the fit: nothing to learn from before any window
    one_day = under_way.loc[under_way["game_date"] <= season_days[0]]
    window, why = choose_window(
        one_day, "game", CURRENT, champion_fit_through=fit, days=365, min_games=1
    )
    assert window is None and "one game day of 2019-20 since the champion's fit" in why


def test_a_finished_season_still_has_its_window_against_an_older_champion(under_way):
    """Stored playoffs (the season is over) change nothing: a champion fit on the previous
    season is judged against the refit on the season's last regular-season games, not on a
    season it never saw; a champion fit through the season's last day gets no window."""
    finished = under_way.copy()
    finished.loc[finished.index[-1], "season_type"] = "playoffs"
    plan = plan_window("game-logistic", _info({}), finished, CURRENT, 14, 20)
    regular = finished.loc[
        (finished["season"] == CURRENT) & (finished["season_type"] == "regular"), "game_date"
    ]
    assert plan.window is not None and plan.window.through == regular.max()
    last = regular.max().date().isoformat()
    plan = plan_window("game-logistic", _info({"fit_through": last}), finished, CURRENT, 14, 20)
    assert plan.window is None and "after the champion's fit" in plan.why


def test_a_champion_without_metrics_for_the_season_is_scored_there_only_if_it_never_saw_it(
    under_way,
):
    """A champion evaluated on an earlier season and fit before this one began is scored on it
    as served; one fit on some of its games is not, and why is kept; one with its own metrics
    for the season needs no score."""
    previous_last = under_way.loc[under_way["season"] == SEASONS[1], "game_date"].max()
    before = _info({"fit_through": previous_last.date().isoformat(), "eval_season": SEASONS[1]})
    plan = plan_window("game-logistic", before, under_way, CURRENT, 14, 20)
    assert (plan.score_season, plan.season_why) == (True, "")
    first = under_way.loc[under_way["season"] == CURRENT, "game_date"].min()
    inside = replace(before, tags={**before.tags, "fit_through": first.date().isoformat()})
    plan = plan_window("game-logistic", inside, under_way, CURRENT, 14, 20)
    assert plan.score_season is False and f"on games of {CURRENT}" in plan.season_why
    own = replace(before, metrics={f"log_loss.{CURRENT}": 0.6})
    plan = plan_window("game-logistic", own, under_way, CURRENT, 14, 20)
    assert (plan.score_season, plan.season_why) == (False, "")


def test_the_champions_fit_comes_from_its_tag_or_a_safe_bound(under_way):
    assert champion_fit_through(_info({"fit_through": "2019-11-20"}), under_way) == pd.Timestamp(
        "2019-11-20"
    )
    # No tag: the last day of any row of its training seasons, playoffs included.
    bound = champion_fit_through(_info({}), under_way)
    assert bound == under_way.loc[under_way["season"] == SEASONS[1], "game_date"].max()
    assert (
        bound
        > under_way.loc[
            (under_way["season"] == SEASONS[1]) & (under_way["season_type"] == "regular"),
            "game_date",
        ].max()
    )
    # A tag that is not a date counts as no tag.
    assert _info({"fit_through": "yesterday-ish"}).fit_through is None
    assert champion_fit_through(_info({"fit_through": "yesterday-ish"}), under_way) == bound


# End to end ------------------------------------------------------------------------------------
def _home_wins_every_game(log: pd.DataFrame) -> pd.DataFrame:
    """The same games, with the box scores of the two sides swapped wherever the visitors won:
    a season in which the home team always wins (a real change a retrain can learn)."""
    from tests.builders import TEAM_COLUMNS

    stats = TEAM_COLUMNS[TEAM_COLUMNS.index("FGM") : TEAM_COLUMNS.index("PTS") + 1]
    out = log.copy()
    for _, rows in out.groupby("GAME_ID"):
        home = rows.index[rows["MATCHUP"].str.contains("vs.")][0]
        away = rows.index[rows["MATCHUP"].str.contains("@")][0]
        if out.at[home, "PTS"] < out.at[away, "PTS"]:
            swapped = out.loc[[away, home], stats].to_numpy()
            out.loc[[home, away], stats] = swapped
        margin = int(out.at[home, "PTS"] - out.at[away, "PTS"])
        out.loc[[home, away], "WL"] = ["W", "L"]
        out.loc[[home, away], "PLUS_MINUS"] = [margin, -margin]
    return out


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_an_in_season_retrain_is_judged_on_the_window_and_can_win(tmp_path):
    """Champion v1 is fit before the season; in the new season the home team wins every game.
    The retrain's challenger, fit on the season's games before the window, beats the served
    champion on the window's games and is promoted, with the games the gate used recorded; the
    same retrain with the window off is judged on the season (same walk-forward as v1) and
    refused."""
    from sqlalchemy import select

    from core.db import ModelMetadata
    from core.settings import Settings
    from flows.ingest import ingest_flow
    from flows.resources import open_store
    from flows.training import training_flow
    from registry import get_champion, get_version
    from tests.builders import team_game_log, write_snapshot

    history = ("2020-21", "2021-22", "2022-23")
    logs = {s: team_game_log(s, n_days=30, seed=i) for i, s in enumerate(history)}
    logs["2023-24"] = _home_wins_every_game(team_game_log("2023-24", n_days=30, seed=9))
    assert (logs["2023-24"].loc[logs["2023-24"]["MATCHUP"].str.contains("vs."), "WL"] == "W").all()
    before = write_snapshot(tmp_path / "before", {s: logs[s] for s in history}, players=False)
    full = write_snapshot(tmp_path / "full", logs, players=False)
    settings = Settings(data_dir=before, state_dir=tmp_path / "state", in_season_min_games=10)
    ingest_flow(source="snapshot", settings=settings)
    training_flow(models=["game-logistic"], settings=settings)
    uri = settings.resolved_mlflow_tracking_uri
    v1 = get_version(uri, "game-logistic", "1")
    assert v1.tags["fit_through"] == "2022-12-17"  # the last game day of 2022-23

    settings = settings.model_copy(update={"data_dir": full})
    ingest_flow(source="snapshot", seasons="2023-24", settings=settings)
    off = training_flow(models=["game-logistic"], settings=settings, window_days=0)
    (refused,) = off.models
    assert (refused["promoted"], refused["basis"]) == (False, "season")
    # v1 was evaluated on 2022-23 only: it is scored as served on 2023-24, where the challenger
    # (fit on the same seasons as v1) is evaluated walk-forward; the same fit is not better
    assert refused["reason"].startswith("not better: log_loss.2023-24")
    assert (
        "window off" in refused["reason"]
        and "champion v1 as served on 2023-24" in refused["reason"]
    )
    v2 = get_version(uri, "game-logistic", refused["version"])
    assert v2.tags["eval_season_champion_version"] == "1"
    assert v2.metrics["champion.log_loss.2023-24"] == pytest.approx(v2.metrics["log_loss"])

    # v2 is the same fit judged on the season; judged on a window, it is trained again
    summary = training_flow(models=["game-logistic"], settings=settings, window_days=28)
    (outcome,) = summary.models
    v3 = get_version(uri, "game-logistic", outcome["version"])
    window_first, window_last = v3.tags["eval_window"].split("..")
    assert outcome["basis"] == "window" and outcome["window"] == v3.tags["eval_window"]
    assert v3.tags["eval_window_champion_version"] == "1"
    # no window game was seen by either model: v1 stopped before, the challenger at the start
    assert v1.tags["fit_through"] < v3.tags["eval_window_fit_through"] < window_first
    assert window_last == v3.tags["fit_through"] == "2023-12-17"  # the version is refit through D
    assert int(v3.tags["eval_window_games"]) == 28  # 2 games every other day for 28 days
    challenger, champion = v3.metrics["window.log_loss"], v3.metrics["window.champion.log_loss"]
    assert np.isfinite(challenger) and challenger < champion - settings.game_gate_margin
    assert outcome["promoted"] is True and outcome["reason"].startswith("better: log_loss.window")
    assert get_champion(uri, "game-logistic").version == outcome["version"]
    with open_store(settings).connect() as conn:
        reason = conn.execute(
            select(ModelMetadata.reason).where(
                ModelMetadata.version == outcome["version"], ModelMetadata.action == "promote"
            )
        ).scalar_one()
    assert f"in-season window {v3.tags['eval_window']}, 28 games" in reason
    # champion v3 was fit on every stored game: any window setting would refit the same model
    for days in (None, 0, 28):
        again = training_flow(models=["game-logistic"], settings=settings, window_days=days)
        assert again.models == [] and again.unchanged[0].startswith(
            f"game-logistic: champion v{outcome['version']} was trained on the same data"
        ), again.unchanged
