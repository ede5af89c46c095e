"""The prediction endpoints' work, as plain functions of the runtime and a validated request.

Each function checks what pydantic cannot (teams, players and models that exist, two different
teams, the batch limit), answers from the cache when it can, predicts otherwise, and queues the
prediction rows. Bad input raises :class:`BadRequest`, which names the field.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from serving.cache import cache_key
from serving.models import LoadedModel, ModelError
from serving.runtime import GAME, POINTS, Runtime, today
from serving.store import StoreData, Team, name_key

EARLIEST = date(1946, 11, 1)
LATEST = date(2100, 12, 31)


class BadRequest(Exception):
    """A request the service cannot answer as asked; ``loc`` names the field."""

    def __init__(self, loc: list[Any] | None, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.loc = loc or []
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        where = ".".join(str(part) for part in self.loc)
        return {
            "error": f"{where}: {self.message}" if where else self.message,
            "detail": [{"loc": self.loc, "msg": self.message, "type": "value_error"}],
        }


@dataclass
class Call:
    """Who asked, under which request ID, when."""

    endpoint: str
    request_id: str | None
    username: str | None
    started: float = field(default_factory=time.perf_counter)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


@dataclass(frozen=True)
class Game:
    home: Team
    away: Team
    day: date
    neutral: bool

    def normalized(self) -> dict[str, Any]:
        return {
            "home": self.home.abbreviation,
            "away": self.away.abbreviation,
            "date": self.day.isoformat(),
            "neutral": self.neutral,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _data(rt: Runtime) -> StoreData:
    data = rt.data
    if data is None:
        raise BadRequest(None, f"the game store is not loaded yet ({rt.data_error})", status=503)
    return data


def _model(rt: Runtime, name: str | None, version: str | None, task: str) -> LoadedModel:
    if name is None:
        name = rt.settings.default_game_model if task == GAME else rt.settings.default_points_model
    try:
        return rt.models.get(name, version, task)
    except ModelError as exc:
        raise BadRequest([exc.field], str(exc), status=exc.status) from exc


def _day(value: date | None, loc: list[Any]) -> date:
    day = value or today()
    if not EARLIEST <= day <= LATEST:
        raise BadRequest(loc, f"{day} is outside {EARLIEST}..{LATEST}")
    return day


def _team(data: StoreData, code: str, loc: list[Any]) -> Team:
    team = data.team(code)
    if team is None:
        known = ", ".join(data.known_abbreviations())
        raise BadRequest(loc, f"unknown team {code!r} (known: {known})")
    return team


def resolve_game(data: StoreData, request: Any, loc: list[Any] | None = None) -> Game:
    loc = loc or []
    home = _team(data, request.home_team, [*loc, "home_team"])
    away = _team(data, request.away_team, [*loc, "away_team"])
    if home.team_id == away.team_id:
        raise BadRequest(
            [*loc, "away_team"], f"home_team and away_team are the same team ({home.abbreviation})"
        )
    return Game(
        home, away, _day(request.game_date, [*loc, "game_date"]), bool(request.neutral_site)
    )


def game_dates(request: Any) -> list[date]:
    """The dates a game request needs feature tables for (to build them off the event loop)."""
    games = getattr(request, "games", None) or [request]
    return [g.game_date or today() for g in games]


# Records -----------------------------------------------------------------------------------------
def _record(
    rt: Runtime,
    call: Call,
    model: LoadedModel,
    *,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    cached: bool,
    game: Game | None = None,
    player_id: int | None = None,
    day: date | None = None,
    home_team_id: int | None = None,
    away_team_id: int | None = None,
) -> None:
    rt.metrics.predictions.labels(
        model=model.name, version=model.version, endpoint=call.endpoint
    ).inc()
    if game is not None:
        day, home_team_id, away_team_id = game.day, game.home.team_id, game.away.team_id
    data = rt.data
    game_id = None
    if data is not None and day is not None and home_team_id and away_team_id:
        game_id = data.game_id(day, home_team_id, away_team_id)
    rt.records.add(
        "predictions",
        {
            "request_id": call.request_id or "",
            "username": call.username,
            "endpoint": call.endpoint,
            "model_name": model.name,
            "model_version": model.version,
            "game_date": day,
            "game_id": game_id,
            "home_team_id": home_team_id,
            "away_team_id": away_team_id,
            "player_id": player_id,
            "inputs": inputs,
            "outputs": outputs,
            "latency_ms": round(call.elapsed_ms(), 3),
            "cached": cached,
        },
    )


def _cached(rt: Runtime, call: Call, key: str) -> dict[str, Any] | None:
    """The cached answer for ``key``, made this request's: its values are those first computed;
    ``cached`` is true, and the request ID and ``timestamp`` (when it was answered) are this
    request's, in the answer and in each of its ``predictions``."""
    hit = rt.cache.get(key)
    if hit is None:
        rt.metrics.cache_misses.labels(endpoint=call.endpoint).inc()
        return None
    rt.metrics.cache_hits.labels(endpoint=call.endpoint).inc()
    now = _now()
    for answer in (hit, *hit.get("predictions", ())):
        answer["cached"] = True
        answer["request_id"] = call.request_id
        if "timestamp" in answer:
            answer["timestamp"] = now
    return hit


# Games -------------------------------------------------------------------------------------------
def _history(rt: Runtime, day: date, through: date | None, player: bool = False) -> dict[str, Any]:
    """How recent the games behind a prediction are: ``through``, the last stored game day
    before ``day`` (of any team for a game; of the player himself with ``player``), the days
    between, and a warning in words when that is more than the settings'
    ``stale_history_days`` (a date far past the stored games gets features of old data) or
    no stored game comes before ``day``."""
    gap = (day - through).days if through else None
    warnings = []
    if through is None:
        warnings.append(
            f"the player has no stored game before {day.isoformat()}: his features know none "
            "of his games (ingest the seasons before this date)"
            if player
            else f"no stored game before {day.isoformat()}: every team is as it stands before "
            "its first game (ingest the seasons before this date)"
        )
    elif gap > rt.settings.stale_history_days:
        since = f"{gap} days before {day.isoformat()} (on {through.isoformat()})"
        warnings.append(
            f"the player's stored games stop {since}: his features describe him as he was "
            "then, and know no trade, injury or game since (ingest newer games, unless he has "
            "not played since)"
            if player
            else f"the stored games stop {since}: the features describe the teams and players "
            "as they were then, and know no trade, injury or game since (ingest newer games)"
        )
    return {
        "history_through": through.isoformat() if through else None,
        "history_gap_days": gap,
        "warnings": warnings,
    }


def _game_answer(
    rt: Runtime,
    model: LoadedModel,
    game: Game,
    season: str,
    x: np.ndarray,
    p: float,
    call: Call,
    data: StoreData,
) -> dict[str, Any]:
    home_wins = p >= 0.5
    return {
        "home_team": game.home.abbreviation,
        "away_team": game.away.abbreviation,
        "game_date": game.day.isoformat(),
        "season": season,
        **_history(rt, game.day, data.state.history_through(game.day)),
        "neutral_site": game.neutral,
        "predicted_winner": game.home.abbreviation if home_wins else game.away.abbreviation,
        "home_win_probability": p,
        "away_win_probability": 1.0 - p,
        "confidence": p if home_wins else 1.0 - p,
        "model": {"name": model.name, "version": model.version},
        "timestamp": _now(),
        "cached": False,
        "request_id": call.request_id,
        "features": dict(zip(model.columns, x.tolist(), strict=True)),
    }


def _outputs(answer: dict[str, Any]) -> dict[str, Any]:
    keys = ("predicted_winner", "home_win_probability", "away_win_probability", "confidence")
    return {k: answer[k] for k in keys if k in answer}


def _record_game(rt: Runtime, call: Call, model: LoadedModel, game: Game, answer, cached) -> None:
    _record(
        rt,
        call,
        model,
        game=game,
        inputs={"request": game.normalized(), "features": answer["features"]},
        outputs=_outputs(answer),
        cached=cached,
    )


def _features_of(data: StoreData, model: LoadedModel, game: Game) -> tuple[str, np.ndarray]:
    row = data.state.game_row(game.home.team_id, game.away.team_id, game.day, game.neutral)
    return row.season, row.vector[model.input_index]


def predict_simple(rt: Runtime, request: Any, call: Call) -> dict[str, Any]:
    data = _data(rt)
    model = _model(rt, request.model, request.model_version, GAME)
    game = resolve_game(data, request)
    key = cache_key(call.endpoint, game.normalized(), [(model.name, model.version)], data.version)
    hit = _cached(rt, call, key)
    if hit is not None:
        _record_game(rt, call, model, game, hit, cached=True)
        return hit
    season, x = _features_of(data, model, game)
    p = float(model.predictor.predict(x[None, :])[0])
    answer = _game_answer(rt, model, game, season, x, p, call, data)
    rt.cache.set(key, answer)
    _record_game(rt, call, model, game, answer, cached=False)
    return answer


# The most game dates one batch may span. Each new date builds that day's feature tables (tens
# of milliseconds), so a batch of 100 dates would hold a worker for seconds; 31 cover a month
# and stay within the tables the service keeps (32, serving/state.py).
BATCH_DATES = 31


def predict_batch(rt: Runtime, request: Any, call: Call) -> dict[str, Any]:
    limit = rt.settings.batch_limit
    if len(request.games) > limit:
        raise BadRequest(["games"], f"{len(request.games)} games: at most {limit} per batch")
    dates = set(game_dates(request))
    if len(dates) > BATCH_DATES:
        raise BadRequest(
            ["games"],
            f"{len(dates)} game dates: at most {BATCH_DATES} in one batch (split it by date)",
        )
    data = _data(rt)
    model = _model(rt, request.model, request.model_version, GAME)
    games = [resolve_game(data, g, ["games", i]) for i, g in enumerate(request.games)]
    key = cache_key(
        call.endpoint,
        {"games": [g.normalized() for g in games]},
        [(model.name, model.version)],
        data.version,
    )
    hit = _cached(rt, call, key)
    if hit is None:
        rows = [_features_of(data, model, g) for g in games]
        x = np.vstack([r[1] for r in rows])
        p = model.predictor.predict(x)
        answers = [
            _game_answer(rt, model, g, season, x[i], float(p[i]), call, data)
            for i, (g, (season, _)) in enumerate(zip(games, rows, strict=True))
        ]
        hit = {
            "predictions": answers,
            "model": {"name": model.name, "version": model.version},
            "count": len(answers),
            "request_id": call.request_id,
            "cached": False,
        }
        rt.cache.set(key, hit)
        cached = False
    else:
        cached = True
    for g, answer in zip(games, hit["predictions"], strict=True):
        _record_game(rt, call, model, g, answer, cached=cached)
    return hit


def predict_compare(rt: Runtime, request: Any, call: Call) -> dict[str, Any]:
    data = _data(rt)
    models = rt.models.serving(GAME)
    if not models:
        raise BadRequest(None, "no game model is answering", status=503)
    game = resolve_game(data, request)
    key = cache_key(
        call.endpoint, game.normalized(), [(m.name, m.version) for m in models], data.version
    )
    hit = _cached(rt, call, key)
    cached = hit is not None
    if hit is None:
        answers = []
        for model in models:
            season, x = _features_of(data, model, game)
            p = float(model.predictor.predict(x[None, :])[0])
            answers.append(_game_answer(rt, model, game, season, x, p, call, data))
        hit = {
            "home_team": game.home.abbreviation,
            "away_team": game.away.abbreviation,
            "game_date": game.day.isoformat(),
            "predictions": answers,
            "agreement": len({a["predicted_winner"] for a in answers}) == 1,
            "request_id": call.request_id,
            "cached": False,
        }
        rt.cache.set(key, hit)
    by_name = {m.name: m for m in models}
    for answer in hit["predictions"]:
        _record_game(rt, call, by_name[answer["model"]["name"]], game, answer, cached=cached)
    return hit


def _score(model: LoadedModel, x: np.ndarray) -> float:
    """The model's output for one row; a 422 when these values cannot be scored."""
    try:
        value = float(model.predictor.predict(x[None, :])[0])
    except ValueError as exc:
        raise BadRequest(None, f"the model cannot score these values: {exc}", 422) from exc
    if not np.isfinite(value):
        raise BadRequest(None, "the model gives no finite answer for these values", 422)
    return value


def predict_features(rt: Runtime, request: Any, call: Call) -> dict[str, Any]:
    """A game from an explicit feature vector (no store lookup)."""
    model = _model(rt, request.model, request.model_version, GAME)
    values = request.model_dump(exclude={"model", "model_version"})
    data_version = rt.data.version if rt.data is not None else "-"
    key = cache_key(call.endpoint, values, [(model.name, model.version)], data_version)
    hit = _cached(rt, call, key)
    cached = hit is not None
    if hit is None:
        x = np.array([values[c] for c in model.columns], dtype=float)
        p = _score(model, x)
        hit = {
            "predicted_winner": "home" if p >= 0.5 else "away",
            "home_win_probability": p,
            "away_win_probability": 1.0 - p,
            "confidence": max(p, 1.0 - p),
            "model": {"name": model.name, "version": model.version},
            "timestamp": _now(),
            "cached": False,
            "request_id": call.request_id,
            "features": dict(zip(model.columns, x.tolist(), strict=True)),
        }
        rt.cache.set(key, hit)
    _record(
        rt,
        call,
        model,
        inputs={"features": hit["features"]},
        outputs=_outputs(hit),
        cached=cached,
    )
    return hit


# Players -----------------------------------------------------------------------------------------
def _player_id(data: StoreData, value: int | str) -> int:
    players = data.state.players
    text = value.strip() if isinstance(value, str) else ""
    if isinstance(value, int) or (text.isascii() and text.isdigit()):
        player_id = int(value)
        if player_id not in players:
            raise BadRequest(["player"], f"unknown player id {player_id}")
        return player_id
    ids = data.player_names.get(name_key(value), [])
    if not ids:
        raise BadRequest(
            ["player"], f"unknown player {value!r} (give the exact full name or the id)"
        )
    if len(ids) > 1:
        raise BadRequest(
            ["player"], f"{len(ids)} players are named {value!r}: give the id {sorted(ids)}"
        )
    return ids[0]


def predict_player(rt: Runtime, request: Any, call: Call) -> dict[str, Any]:
    data = _data(rt)
    model = _model(rt, request.model, request.model_version, POINTS)
    player_id = _player_id(data, request.player)
    opponent = _team(data, request.opponent, ["opponent"])
    day = _day(request.game_date, ["game_date"])
    if request.team is not None:
        team = _team(data, request.team, ["team"])
    else:
        team_id = data.state.player_team_on(player_id, pd.Timestamp(day))
        if team_id is None or team_id not in data.teams:
            raise BadRequest(
                ["team"], f"player {player_id} has no stored game before {day}: give his team"
            )
        team = data.teams[team_id]
    if team.team_id == opponent.team_id:
        raise BadRequest(["opponent"], f"{opponent.abbreviation} is the player's own team")
    name = data.state.players[player_id].name
    normalized = {
        "player": player_id,
        "team": team.abbreviation,
        "opponent": opponent.abbreviation,
        "home": bool(request.home),
        "date": day.isoformat(),
    }
    key = cache_key(call.endpoint, normalized, [(model.name, model.version)], data.version)
    hit = _cached(rt, call, key)
    cached = hit is not None
    if hit is None:
        season, feats = data.state.player_row(
            player_id, team.team_id, opponent.team_id, day, bool(request.home)
        )
        x = np.array([feats[c] for c in model.columns], dtype=float)
        points = max(0.0, float(model.predictor.predict(x[None, :])[0]))
        interval = model.interval(points)
        hit = {
            "player_id": player_id,
            "player_name": name,
            "team": team.abbreviation,
            "opponent": opponent.abbreviation,
            "home": bool(request.home),
            "game_date": day.isoformat(),
            "season": season,
            **_history(rt, day, data.state.player_history_through(player_id, day), player=True),
            "predicted_points": points,
            "interval": interval,
            "model": {"name": model.name, "version": model.version},
            "timestamp": _now(),
            "cached": False,
            "request_id": call.request_id,
            "features": dict(zip(model.columns, x.tolist(), strict=True)),
        }
        rt.cache.set(key, hit)
    home_id, away_id = (
        (team.team_id, opponent.team_id) if request.home else (opponent.team_id, team.team_id)
    )
    _record(
        rt,
        call,
        model,
        inputs={"request": normalized, "features": hit["features"]},
        outputs={"predicted_points": hit["predicted_points"], "interval": hit["interval"]},
        cached=cached,
        player_id=player_id,
        day=day,
        home_team_id=home_id,
        away_team_id=away_id,
    )
    return hit
