"""A player's answer says how recent his own stored games are, not the teams'.

Its own store (a copy of the session's without some of two players' games) and service: the
service of another module must not run beside it.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pandas as pd

from tests.builders import TEAMS
from tests.serving.conftest import (
    EVAL_SEASON,
    GAME_DAY,
    add_users,
    login,
    pg_database,
    running_service,
    write_store,
)

MATCHUP = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}


def played(player: int, rows: pd.DataFrame) -> pd.Series:
    """The days of ``player``'s games in ``rows``."""
    return pd.to_datetime(rows.loc[rows["player_id"] == player, "game_date"]).dt.date


def test_a_player_answer_says_how_recent_his_own_games_are(stack, frames):
    """A player whose stored games stop a season before the date, and a rookie whose first
    game is the date: their answers' gap and warning are their own, not the teams' (whose
    games go on to the day before)."""
    players = frames.player_games
    retired, rookie = (int(p) for p in players["player_id"].drop_duplicates().iloc[:2])
    dropped = ((players["player_id"] == retired) & (players["season"] == EVAL_SEASON)) | (
        (players["player_id"] == rookie) & (players["season"] != EVAL_SEASON)
    )
    kept = players.loc[~dropped]
    last, debut = played(retired, kept).max(), played(rookie, kept).min()
    assert played(rookie, players).min() < debut  # the teams' games start before his

    def ask(client, headers, player: int, day: str):
        team = int(players.loc[players["player_id"] == player, "team_id"].iloc[0])
        mine, other = (t[1] for t in sorted(TEAMS, key=lambda t: t[0] != team)[:2])
        body = {"player": player, "team": mine, "opponent": other, "home": True, "game_date": day}
        response = client.post("/api/predict/player", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    with pg_database() as url:
        write_store(url, dataclasses.replace(frames, player_games=kept))
        add_users(url)
        with running_service(stack.env(NBA_DATABASE_URL=url)) as client:
            headers = login(client)
            gone = ask(client, headers, retired, GAME_DAY)
            new = ask(client, headers, rookie, debut.isoformat())
            teams = client.post("/api/predict/simple", json=MATCHUP, headers=headers).json()
    gap = (date.fromisoformat(GAME_DAY) - last).days
    assert gap > 30 and teams["history_gap_days"] <= 2 and teams["warnings"] == []
    assert (gone["history_through"], gone["history_gap_days"]) == (last.isoformat(), gap)
    (stale,) = gone["warnings"]
    assert stale.startswith(
        f"the player's stored games stop {gap} days before {GAME_DAY} (on {last.isoformat()}): "
    )
    assert (new["history_through"], new["history_gap_days"]) == (None, None)
    (unseen,) = new["warnings"]
    assert unseen.startswith(f"the player has no stored game before {debut.isoformat()}: ")
