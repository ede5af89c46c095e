"""The serving part of ``nba-mlops demo``: start the API, predict a few games and players, stop.

``run_demo`` assumes the store holds ingested games and the registry holds champions (the
demo's earlier steps). It starts ``bentoml serve`` on a free port, creates (or resets) a demo
user, logs in, asks each prediction endpoint for something real from the store (the games of
the last stored day with their actual results, a top scorer's last game) and prints the answers.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from core.processes import process_group
from flows.serving_cli import REPO_ROOT, serve_command, settings_env

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from core.settings import Settings

DEMO_USER = "demo"
READY_TIMEOUT = 300.0
DOCS_PATH = "/"


@dataclass
class Examples:
    """Requests built from what the store holds."""

    day: str
    games: list[dict[str, Any]]  # home_team, away_team, game_date, + actual winner
    player: dict[str, Any] | None  # request body + actual points


def free_port(preferred: int | None = None) -> int:
    if preferred is not None:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_store(settings: Settings) -> Engine:
    from core.db import make_engine
    from core.migrate import upgrade

    if settings.database_url is None:
        settings.ensure_state_dir()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    return engine


def pick_examples(engine: Engine, max_games: int = 5) -> Examples:
    """The games of the last stored day and the best scorer of the last season's last game."""
    import pandas as pd

    from ingest.storage import read_games, read_player_games, read_team_games, read_teams

    games = read_games(engine)
    if games.empty:
        raise ValueError("the store holds no games: run `nba-mlops ingest` first")
    teams = read_teams(engine)
    abbreviations = dict(zip(teams["team_id"], teams["abbreviation"], strict=True))
    played = set(games["home_team_id"]) | set(games["away_team_id"])
    if not played <= set(abbreviations):
        latest = read_team_games(engine).drop_duplicates("team_id", keep="last")
        for team_id, abbr in zip(latest["team_id"], latest["team_abbreviation"], strict=True):
            abbreviations.setdefault(team_id, abbr)
    last_day = games["game_date"].max()
    chosen = games.loc[games["game_date"] == last_day].head(max_games)
    day = pd.Timestamp(last_day).date().isoformat()
    examples = [
        {
            "home_team": abbreviations[row.home_team_id],
            "away_team": abbreviations[row.away_team_id],
            "game_date": day,
            "neutral_site": bool(row.neutral_site),
            "actual": abbreviations[row.home_team_id]
            if row.home_pts > row.away_pts
            else abbreviations[row.away_team_id],
        }
        for row in chosen.itertuples(index=False)
    ]
    season = games.loc[games["game_date"] == last_day, "season"].iloc[0]
    players = read_player_games(engine, seasons=[season])
    player = None
    if not players.empty:
        best = players.groupby("player_id")["pts"].mean().idxmax()
        last = players.loc[players["player_id"] == best].sort_values("game_date").iloc[-1]
        game = games.loc[games["game_id"] == last["game_id"]].iloc[0]
        home = int(game["home_team_id"]) == int(last["team_id"])
        opponent = game["away_team_id"] if home else game["home_team_id"]
        player = {
            "player": str(last["player_name"]),
            "opponent": abbreviations[opponent],
            "home": home,
            "game_date": pd.Timestamp(last["game_date"]).date().isoformat(),
            "actual": float(last["pts"]),
        }
    return Examples(day, examples, player)


def _wait_ready(base: str, proc: subprocess.Popen, log_path: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text()[-3000:] if log_path.exists() else ""
            raise RuntimeError(f"the prediction service exited ({proc.returncode}):\n{tail}")
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(
        f"the prediction service was not ready within {timeout:.0f} s: see {log_path}"
    )


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _post(http, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(path, json=body)
    if response.status_code != 200:
        raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text[:500]}")
    return response.json()


def show_predictions(http, examples: Examples, console: Console) -> dict[str, Any]:
    """Ask every prediction endpoint once (or a few times) and print the answers."""
    shown: dict[str, Any] = {}
    games = [{k: v for k, v in g.items() if k != "actual"} for g in examples.games]
    table = Table(title=f"games of {examples.day}, predicted from the games before it")
    for col in ("game", "home win", "pick", "actual", "model"):
        table.add_column(col)
    simple = []
    for game, example in zip(games, examples.games, strict=True):
        answer = _post(http, "/api/predict/simple", game)
        simple.append(answer)
        table.add_row(
            f"{answer['away_team']} @ {answer['home_team']}",
            _pct(answer["home_win_probability"]),
            answer["predicted_winner"],
            example["actual"],
            f"{answer['model']['name']} v{answer['model']['version']}",
        )
    console.print(table)
    shown["simple"] = simple

    first = games[0]
    today = _post(http, "/api/predict/simple", {k: first[k] for k in ("home_team", "away_team")})
    console.print(
        f"today ({today['game_date']}): {today['away_team']} @ {today['home_team']}: "
        f"{today['predicted_winner']} with {_pct(today['confidence'])}"
    )
    for warning in today.get("warnings", ()):
        console.print(f"  warning: {warning}", markup=False)
    shown["today"] = today

    compare = _post(http, "/api/predict/compare", first)
    table = Table(title=f"every game model: {first['away_team']} @ {first['home_team']}")
    for col in ("model", "home win", "pick"):
        table.add_column(col)
    for answer in compare["predictions"]:
        table.add_row(
            f"{answer['model']['name']} v{answer['model']['version']}",
            _pct(answer["home_win_probability"]),
            answer["predicted_winner"],
        )
    console.print(table)
    shown["compare"] = compare

    batch = _post(http, "/api/predict/batch", {"games": games})
    console.print(
        f"batch: {batch['count']} games in one call, picks "
        + ", ".join(p["predicted_winner"] for p in batch["predictions"])
    )
    shown["batch"] = batch

    explicit = _post(http, "/api/predict", simple[0]["features"])
    console.print(
        f"explicit feature vector ({len(simple[0]['features'])} features): home win "
        f"{_pct(explicit['home_win_probability'])} (the same game as above)"
    )
    shown["features"] = explicit

    if examples.player is not None:
        body = {k: v for k, v in examples.player.items() if k != "actual"}
        player = _post(http, "/api/predict/player", body)
        interval = player["interval"]
        span = (
            f" ({_pct(interval['level'])} interval {interval['low']:.1f}-{interval['high']:.1f}, "
            f"from {interval['basis']})"
            if interval
            else ""
        )
        console.print(
            f"{player['player_name']} ({player['team']}) v {player['opponent']} on "
            f"{player['game_date']}: {player['predicted_points']:.1f} points{span}; "
            f"he scored {examples.player['actual']:.0f}"
        )
        shown["player"] = player
    return shown


def run_demo(settings: Settings, keep_running: bool = False, port: int | None = None) -> None:
    """Start the API, make a few authenticated predictions of each kind, print them, stop it
    (or, with ``keep_running``, leave it up until Ctrl-C with the URLs to visit)."""
    import httpx

    from flows.serving_cli import serve_env
    from serving.auth import ensure_user

    console = Console()
    engine = open_store(settings)
    examples = pick_examples(engine)
    password = secrets.token_urlsafe(18)
    ensure_user(engine, DEMO_USER, password, "admin", cost=settings.bcrypt_cost)
    engine.dispose()

    port = port or free_port(3000 if keep_running else None)
    base = f"http://127.0.0.1:{port}"
    env, _ = serve_env(settings.environment, settings.jwt_secret)
    env.update(settings_env(settings))
    if settings.jwt_secret:
        env["NBA_JWT_SECRET"] = settings.jwt_secret
    log_dir = settings.state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "demo-serve.out"
    console.rule(f"serve: the prediction API on {base}")
    command = serve_command("127.0.0.1", port)
    with (
        log_path.open("w") as log,
        process_group(command, env=env, cwd=REPO_ROOT, stdout=log) as proc,
    ):
        started = time.monotonic()
        _wait_ready(base, proc, log_path, READY_TIMEOUT)
        console.print(f"ready in {time.monotonic() - started:.0f} s (server output: {log_path})")
        with httpx.Client(base_url=base, timeout=120) as http:
            login = http.post("/api/auth/login", json={"username": DEMO_USER, "password": password})
            login.raise_for_status()
            http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            console.print(
                f"logged in as {DEMO_USER!r} (bearer token, {login.json()['expires_in']} s)"
            )
            show_predictions(http, examples, console)
        if keep_running:
            console.print(
                f"\nAPI docs: {base}{DOCS_PATH}   health: {base}/api/health\n"
                f"user {DEMO_USER!r}, password {password}\n"
                "MLflow UI: run `nba-mlops mlflow-ui` in another terminal "
                "(http://127.0.0.1:5000)\nCtrl-C stops the service."
            )
            with contextlib.suppress(KeyboardInterrupt):
                proc.wait()
