"""The feature contract: column names of the model inputs and their documentation.

Plain Python (no pandas): importing ``features`` to read the column lists costs nothing.
``FEATURE_DOCS`` rows are ``(name, definition, window)``; ``features.docs`` renders them into
``docs/features.md``.
"""

from __future__ import annotations

WINDOWS = (5, 10, 20)
H2H_WINDOW = 5
PLAYER_WINDOWS = (5, 10)

GAME_ID_COLUMNS = (
    "game_id",
    "game_date",
    "season",
    "season_type",
    "home_team_id",
    "away_team_id",
    "neutral_site",
    "home_win",
)
GAME_BASELINES = ("home_win_pct", "away_win_pct", "elo_home_prob")

# Per-team features (from features.team.team_features), emitted with home_/away_ prefixes.
GAME_SIDE_FEATURES = (
    *(f"pts_for_avg_{w}" for w in WINDOWS),
    *(f"pts_against_avg_{w}" for w in WINDOWS),
    *(f"margin_avg_{w}" for w in WINDOWS),
    "margin_ewm",
    "adj_margin_avg_10",
    "adj_margin_ewm",
    "luck_margin_avg_10",
    "luck_margin_ewm",
    "margin_trend_10",
    "off_rating_10",
    "def_rating_10",
    "net_rating_10",
    "pace_10",
    "win_pct",
    "season_games",
    "streak",
    "rest_days",
    "b2b",
    "three_in_four",
    "elo",
)
# Home-minus-away differences.
GAME_DIFF_FEATURES = (
    *(f"margin_avg_{w}" for w in WINDOWS),
    "margin_ewm",
    "adj_margin_avg_10",
    "adj_margin_ewm",
    "luck_margin_avg_10",
    "luck_margin_ewm",
    "margin_trend_10",
    "net_rating_10",
    "win_pct",
    "streak",
    "rest_days",
    "elo",
)
GAME_PAIR_FEATURES = (
    "home_court",
    "home_home_win_pct",
    "home_home_edge",
    "away_away_win_pct",
    "elo_home_adv",
    "elo_home_prob",
    "h2h_games",
    "h2h_home_win_pct",
    "h2h_home_margin_avg",
)
# From the player logs (features.roster): who played each team's previous game.
GAME_ROSTER_FEATURES = ("home_roster_gs", "away_roster_gs", "diff_roster_gs", "roster_known")
# The Elo difference again where the rosters are known: lets the models weigh Elo differently
# when the roster features carry part of the teams' strength (player logs start in 2015-16).
GAME_INTERACTION_FEATURES = ("diff_elo_roster_known",)
GAME_FEATURES = (
    *(f"home_{n}" for n in GAME_SIDE_FEATURES),
    *(f"away_{n}" for n in GAME_SIDE_FEATURES),
    *(f"diff_{n}" for n in GAME_DIFF_FEATURES),
    *GAME_PAIR_FEATURES,
    *GAME_ROSTER_FEATURES,
    *GAME_INTERACTION_FEATURES,
)

PLAYER_ID_COLUMNS = (
    "game_id",
    "player_id",
    "team_id",
    "opponent_team_id",
    "game_date",
    "season",
    "is_home",
    "pts",
)
PLAYER_BASELINES = ("pts_avg_season", "pts_avg_10", "min_avg_season")
PLAYER_STATS = ("pts", "min", "fga", "fta", "fg3a", "usage")
PLAYER_FEATURES = (
    *(f"player_{s}_avg_{w}" for s in PLAYER_STATS for w in (*PLAYER_WINDOWS, "season")),
    "player_pts_ewm",
    "player_min_ewm_3",
    "player_min_ewm_10",
    "player_pts_per_min_ewm_10",
    "player_pts_per_min_ewm_20",
    "player_pts_prev_season",
    "player_min_prev_season",
    "player_prev_season_games",
    "player_fga_share_10",
    "player_min_trend_10",
    "player_season_games",
    "player_career_games",
    "player_rest_days",
    "player_b2b",
    "player_games_missed",
    "player_is_home",
    "team_pts_avg_10",
    "team_pace_10",
    "team_scoring_gap",
    "team_elo_edge",
    "team_elo_edge_abs",
    "opp_pts_allowed_avg_10",
    "opp_def_rating_10",
    "opp_pace_10",
    "team_pace_rel_10",
    "opp_def_rating_rel_10",
    "opp_pace_rel_10",
)

_WINDOW = {5: "last 5 games", 10: "last 10 games", 20: "last 20 games"}
_ANY = " (any season; fewer games early on)"

_SIDE_DOCS = {
    **{
        f"pts_for_avg_{w}": (
            "Mean points scored; league mean when no earlier game",
            _WINDOW[w] + _ANY,
        )
        for w in WINDOWS
    },
    **{
        f"pts_against_avg_{w}": (
            "Mean points allowed; league mean when no earlier game",
            _WINDOW[w] + _ANY,
        )
        for w in WINDOWS
    },
    **{
        f"margin_avg_{w}": (
            "Mean point margin (for - against); 0 with no history",
            _WINDOW[w] + _ANY,
        )
        for w in WINDOWS
    },
    "margin_ewm": (
        "Exponentially weighted mean margin (half-life 12 games); 0 with no history",
        "all earlier games",
    ),
    "adj_margin_avg_10": (
        "Mean opponent- and venue-adjusted margin: margin - venue x H/28 + "
        "(opponent pre-game Elo - 1505)/28 (venue +1 home, -1 away, 0 neutral; H = the league "
        "Elo home advantage in effect for that game, as in elo_home_adv: learned online from "
        "league-wide home results, 100 Elo points at the first game of the history, about 65-90 "
        "in 2000-2020 and 40-55 since 2020-21, i.e. about 1.5-3.5 points of margin)",
        _WINDOW[10] + _ANY,
    ),
    "adj_margin_ewm": (
        "Exponentially weighted mean of the adjusted margin (half-life 12 games)",
        "all earlier games",
    ),
    "luck_margin_avg_10": (
        "Mean luck-adjusted margin: adj_margin with the opponent's three-point makes replaced by "
        "its attempts x the league three-point % of the trailing two years",
        _WINDOW[10] + _ANY,
    ),
    "luck_margin_ewm": (
        "Exponentially weighted mean of the luck-adjusted margin (half-life 12 games)",
        "all earlier games",
    ),
    "margin_trend_10": (
        "Least-squares slope of margin against game number (points per game); 0 with < 3 games",
        _WINDOW[10] + _ANY,
    ),
    "off_rating_10": (
        "Points scored per 100 possessions, possessions = mean of both teams' "
        "FGA - OREB + TOV + 0.44 FTA; league mean when no history",
        _WINDOW[10] + _ANY,
    ),
    "def_rating_10": ("Points allowed per 100 possessions (as off_rating_10)", _WINDOW[10] + _ANY),
    "net_rating_10": ("off_rating_10 - def_rating_10", _WINDOW[10] + _ANY),
    "pace_10": ("Possessions per 48 minutes", _WINDOW[10] + _ANY),
    "win_pct": (
        "Win % so far this season; 0.5 before the first game (also the baseline input)",
        "season to date",
    ),
    "season_games": ("Games played so far this season", "season to date"),
    "streak": (
        "Current streak, signed: +3 = won the last 3, -2 = lost the last 2; 0 before the first game",
        "season to date",
    ),
    "rest_days": (
        "Days since the previous game, capped at 7 (7 for the first game of a season)",
        "previous game",
    ),
    "b2b": ("1 if the previous game was the day before (back-to-back)", "previous game"),
    "three_in_four": (
        "1 if this is the third game in four nights (two earlier games in the 3 days before)",
        "previous 2 games",
    ),
    "elo": (
        "Pre-game Elo rating (FiveThirtyEight style): K=20, margin-of-victory multiplier "
        "(abs(margin)+3)^0.8/(7.5+0.006 x winner's Elo edge), a league home advantage learned "
        "online (starts at 100 Elo points, none at neutral sites), 25% regression to 1505 "
        "between seasons; 1505 for a team without history",
        "all earlier games (one pass over days)",
    ),
}

_PAIR_DOCS = {
    "home_court": ("1 unless the game is at a neutral site", "this game"),
    "home_home_win_pct": (
        "Home team's win % in its home games this season, smoothed (wins + 1)/(games + 2)",
        "season to date",
    ),
    "home_home_edge": (
        "Home team's own home-court edge: half the difference of its exponentially weighted "
        "(half-life 60 games) adjusted margins at home and away; 0 with no history",
        "all earlier games",
    ),
    "elo_home_adv": (
        "Elo home advantage in effect (Elo points; 0 at neutral sites), learned online from home "
        "results league-wide",
        "all earlier games",
    ),
    "away_away_win_pct": (
        "Away team's win % in its away games this season, smoothed (wins + 1)/(games + 2)",
        "season to date",
    ),
    "elo_home_prob": (
        "Elo probability of a home win: 1/(1 + 10^(-(home_elo - away_elo + elo_home_adv)/400)) "
        "(also the baseline input)",
        "all earlier games",
    ),
    "h2h_games": (
        "Number of earlier meetings of the two teams counted (at most 5)",
        "last 5 meetings",
    ),
    "h2h_home_win_pct": (
        "Home team's win % in the last meetings of the pair; 0.5 if they never met",
        "last 5 meetings (any season, any venue)",
    ),
    "h2h_home_margin_avg": (
        "Home team's mean margin in the last meetings of the pair; 0 if they never met",
        "last 5 meetings (any season, any venue)",
    ),
}

_ROSTER_WINDOW = "players of the team's previous game this season; each one's last 60 games"
_ROSTER_DOCS = {
    "home_roster_gs": (
        "Home team's roster strength: the sum, over the players who played its previous game, of "
        "each one's mean Hollinger game score (PTS + 0.4 FGM - 0.7 FGA - 0.4 (FTA - FTM) + 0.7 "
        "OREB + 0.3 DREB + STL + 0.7 AST + 0.7 BLK - 0.4 PF - TOV) over his last 60 games (any "
        "team, any season); 0 unless roster_known",
        _ROSTER_WINDOW,
    ),
    "away_roster_gs": ("Away team's roster strength (as home_roster_gs)", _ROSTER_WINDOW),
    "diff_roster_gs": ("home_roster_gs - away_roster_gs", _ROSTER_WINDOW),
    "roster_known": (
        "1 if both teams' previous games this season have player logs (0 at a season's first "
        "game, before player logs exist, or when they are not passed)",
        "previous game of each team",
    ),
}
_INTERACTION_DOCS = {
    "diff_elo_roster_known": (
        "diff_elo x roster_known: the Elo difference where both rosters are known, else 0 (so "
        "a linear model weighs Elo on its own for games without roster strengths and alongside "
        "it for games with them)",
        "as diff_elo",
    ),
}

_PLAYER_STAT_DOCS = {
    "pts": "points",
    "min": "minutes",
    "fga": "field-goal attempts",
    "fta": "free-throw attempts",
    "fg3a": "three-point attempts",
    "usage": "usage proxy (FGA + 0.44 FTA + TOV) per minute",
}
_PLAYER_WINDOW_DOCS = {5: _WINDOW[5] + _ANY, 10: _WINDOW[10] + _ANY, "season": "season to date"}

_PLAYER_DOCS = {
    **{
        f"player_{s}_avg_{w}": (
            f"Player's mean {text}; falls back to the season, then the last-10, then the league "
            "mean per player-game when there is no such history",
            _PLAYER_WINDOW_DOCS[w],
        )
        for s, text in _PLAYER_STAT_DOCS.items()
        for w in (*PLAYER_WINDOWS, "season")
    },
    "player_pts_ewm": (
        "Exponentially weighted mean points (half-life 8 games); league mean with no history",
        "all earlier games",
    ),
    **{
        f"player_min_ewm_{h}": (
            f"Exponentially weighted mean minutes (half-life {h} games): the minutes he is likely "
            "to get; league mean with no history",
            "all earlier games",
        )
        for h in (3, 10)
    },
    **{
        f"player_pts_per_min_ewm_{h}": (
            f"Points per minute: EWM of points / EWM of minutes (both half-life {h} games); "
            "league points per minute with no history",
            "all earlier games",
        )
        for h in (10, 20)
    },
    "player_pts_prev_season": (
        "Player's mean points in the previous season (the season just before this one); 0 when "
        "he did not play in it (see player_prev_season_games)",
        "previous season",
    ),
    "player_min_prev_season": (
        "Player's mean minutes in the previous season; 0 when he did not play in it",
        "previous season",
    ),
    "player_prev_season_games": (
        "Games the player played in the previous season (0 if none): how much to trust the two "
        "previous-season means",
        "previous season",
    ),
    "player_fga_share_10": (
        "Player's FGA / team FGA in the player's games",
        _WINDOW[10] + _ANY,
    ),
    "player_min_trend_10": (
        "Least-squares slope of minutes against game number; 0 with < 3 games",
        _WINDOW[10] + _ANY,
    ),
    "player_season_games": ("Games played so far this season", "season to date"),
    "player_career_games": ("Games played in the data so far (capped at 82)", "all earlier games"),
    "player_rest_days": (
        "Days since the player's previous game, capped at 7 (7 for his first game of a season)",
        "previous game",
    ),
    "player_b2b": ("1 if the player also played the day before", "previous game"),
    "player_is_home": ("1 if the player's team is at home (0 away or neutral site)", "this game"),
    "player_games_missed": (
        "Team games this season since the player's previous game (capped at 20): a player back "
        "from an absence",
        "season to date",
    ),
    "team_pts_avg_10": ("Player's team's mean points scored", _WINDOW[10] + _ANY),
    "team_pace_10": ("Player's team's possessions per 48 minutes", _WINDOW[10] + _ANY),
    "team_scoring_gap": (
        "Team's usual scoring (mean over its last 10 games of the summed last-10 points means of "
        "the players who played) minus that of the players who played its previous game: "
        "scorers missing lately; 0 at a season's start",
        "team's previous game",
    ),
    "team_elo_edge": (
        "Player's team's pre-game Elo minus the opponent's, plus the home advantage when home",
        "all earlier games",
    ),
    "team_elo_edge_abs": (
        "abs(team_elo_edge): expected blowouts shorten minutes",
        "all earlier games",
    ),
    "opp_pts_allowed_avg_10": ("Opponent's mean points allowed", _WINDOW[10] + _ANY),
    "opp_def_rating_10": ("Opponent's points allowed per 100 possessions", _WINDOW[10] + _ANY),
    "opp_pace_10": ("Opponent's possessions per 48 minutes", _WINDOW[10] + _ANY),
    "team_pace_rel_10": (
        "Player's team's pace_10 minus the league's possessions per 48 minutes over the trailing "
        "365 days (0 with no history)",
        _WINDOW[10] + _ANY + "; league: trailing 365 days",
    ),
    "opp_def_rating_rel_10": (
        "Opponent's def_rating_10 minus the league's points per 100 possessions over the trailing "
        "365 days: a defence compared with the scoring of its time (0 with no history)",
        _WINDOW[10] + _ANY + "; league: trailing 365 days",
    ),
    "opp_pace_rel_10": (
        "Opponent's pace_10 minus the league's possessions per 48 minutes over the trailing 365 "
        "days (0 with no history)",
        _WINDOW[10] + _ANY + "; league: trailing 365 days",
    ),
}

_PLAYER_BASELINE_DOCS = (
    (
        "pts_avg_season",
        "Baseline: mean points this season before the game; NaN on a player's first game",
        "season to date",
    ),
    (
        "pts_avg_10",
        "Baseline: mean points over the last 10 games; NaN with no earlier game",
        _WINDOW[10] + " (any season)",
    ),
    (
        "min_avg_season",
        "Baseline: mean minutes this season before the game (rotation player: >= 20); NaN first",
        "season to date",
    ),
)


def _game_docs() -> list[tuple[str, str, str]]:
    rows = []
    for side in ("home", "away"):
        for name in GAME_SIDE_FEATURES:
            definition, window = _SIDE_DOCS[name]
            text = definition[0].lower() + definition[1:]
            rows.append((f"{side}_{name}", f"{side.capitalize()} team: {text}", window))
    for name in GAME_DIFF_FEATURES:
        rows.append((f"diff_{name}", f"home_{name} - away_{name}", _SIDE_DOCS[name][1]))
    for name in GAME_PAIR_FEATURES:
        definition, window = _PAIR_DOCS[name]
        rows.append((name, definition, window))
    rows.extend((name, *_ROSTER_DOCS[name]) for name in GAME_ROSTER_FEATURES)
    rows.extend((name, *_INTERACTION_DOCS[name]) for name in GAME_INTERACTION_FEATURES)
    return rows


def _player_docs() -> list[tuple[str, str, str]]:
    rows = [(name, *_PLAYER_DOCS[name]) for name in PLAYER_FEATURES]
    rows.extend(_PLAYER_BASELINE_DOCS)
    return rows


GAME_FEATURE_DOCS = tuple(_game_docs())
PLAYER_FEATURE_DOCS = tuple(_player_docs())
FEATURE_DOCS = GAME_FEATURE_DOCS + PLAYER_FEATURE_DOCS
