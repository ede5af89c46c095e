"""Every endpoint over HTTP, in-process (``to_asgi()`` + TestClient), on the real store."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import create_engine, select

from core.db import AuditLog, DriftReport, Prediction
from features import GAME_FEATURES
from tests.serving.conftest import ADMIN, GAME_DAY, USER, drift_reports, runtime_of

MATCHUP = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY}


def flush(service) -> None:
    assert runtime_of(service).records.flush()


def rows_for(stack, table, request_id: str):
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(table).where(table.request_id == request_id)).all()
    finally:
        engine.dispose()


def test_simple_prediction_answers_and_is_recorded(service, user_headers, stack):
    response = service.post(
        "/api/predict/simple", json=MATCHUP, headers={**user_headers, "X-Request-ID": "simple-1"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["x-request-id"] == "simple-1" == body["request_id"]
    assert body["predicted_winner"] in {"BOS", "LAL"}
    assert math.isclose(body["home_win_probability"] + body["away_win_probability"], 1.0)
    assert body["confidence"] == max(body["home_win_probability"], body["away_win_probability"])
    assert body["model"] == {"name": "game-logistic", "version": stack.versions["game-logistic"]}
    assert body["season"] == "2022-23"
    assert set(body["features"]) == set(GAME_FEATURES)
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None
    flush(service)
    (row,) = rows_for(stack, Prediction, "simple-1")
    assert row.username == USER
    assert row.endpoint == "simple"
    assert (row.model_name, row.model_version) == ("game-logistic", stack.versions["game-logistic"])
    assert row.game_date.isoformat() == GAME_DAY
    assert row.outputs["home_win_probability"] == body["home_win_probability"]
    assert row.inputs["request"] == {
        "home": "BOS",
        "away": "LAL",
        "date": GAME_DAY,
        "neutral": False,
    }
    assert row.latency_ms > 0
    assert row.cached is False


def test_a_stored_game_keeps_its_real_game_id(service, user_headers, stack, frames):
    game = frames.games.iloc[-1]
    teams = {
        t: a
        for t, a in (
            (1610612738, "BOS"),
            (1610612747, "LAL"),
            (1610612744, "GSW"),
            (1610612752, "NYK"),
        )
    }
    request = {
        "home_team": teams[int(game.home_team_id)],
        "away_team": teams[int(game.away_team_id)],
        "game_date": game.game_date.date().isoformat(),
    }
    response = service.post(
        "/api/predict/simple", json=request, headers={**user_headers, "X-Request-ID": "stored-1"}
    )
    assert response.status_code == 200
    flush(service)
    (row,) = rows_for(stack, Prediction, "stored-1")
    assert row.game_id == game.game_id


def test_home_court_matters(service, user_headers):
    home = service.post("/api/predict/simple", json=MATCHUP, headers=user_headers).json()
    neutral = service.post(
        "/api/predict/simple", json={**MATCHUP, "neutral_site": True}, headers=user_headers
    ).json()
    assert home["features"]["home_court"] == 1.0 and neutral["features"]["home_court"] == 0.0
    assert home["home_win_probability"] != neutral["home_win_probability"]


def test_the_default_date_is_today(service, user_headers):
    body = service.post(
        "/api/predict/simple", json={"home_team": "gsw", "away_team": "NYK"}, headers=user_headers
    ).json()
    from serving.runtime import today

    assert body["game_date"] == today().isoformat()
    assert body["home_team"] == "GSW"


def test_answers_say_how_recent_their_games_are(service, user_headers, frames):
    """Each answer names the last stored game day before its date and the days in between: a
    date far past the stored games is answered, and says its features are of old games."""
    days = pd.to_datetime(frames.games["game_date"])
    before = days[days < pd.Timestamp(GAME_DAY)].max().date()
    body = service.post("/api/predict/simple", json=MATCHUP, headers=user_headers).json()
    assert body["history_through"] == before.isoformat()
    assert body["history_gap_days"] == (date.fromisoformat(GAME_DAY) - before).days
    late = (days.max() + pd.Timedelta(days=400)).date().isoformat()
    far = service.post(
        "/api/predict/simple", json={**MATCHUP, "game_date": late}, headers=user_headers
    ).json()
    assert far["history_through"] == days.max().date().isoformat()
    assert far["history_gap_days"] == 400
    # within the season nothing is said; an answer from old games says so in words
    assert body["warnings"] == []
    (stale,) = far["warnings"]
    assert stale.startswith(
        f"the stored games stop 400 days before {late} (on {far['history_through']})"
    )
    early = {**MATCHUP, "game_date": "2001-01-01"}
    first = service.post("/api/predict/batch", json={"games": [early]}, headers=user_headers)
    assert first.json()["predictions"][0]["history_through"] is None
    (none,) = first.json()["predictions"][0]["warnings"]
    assert none.startswith("no stored game before 2001-01-01")
    player = service.post(
        "/api/predict/player",
        json={
            "player": int(frames.player_games["player_id"].iloc[0]),
            "opponent": "LAL",
            "team": "BOS",
            "home": True,
            "game_date": late,
        },
        headers=user_headers,
    ).json()
    assert player["history_gap_days"] == 400, player
    (own,) = player["warnings"]  # his last game is the store's last day here
    assert own.startswith(f"the player's stored games stop 400 days before {late}")


def test_explicit_features_give_the_same_answer_as_simple(service, user_headers):
    simple = service.post("/api/predict/simple", json=MATCHUP, headers=user_headers).json()
    features = dict.fromkeys(GAME_FEATURES, 0.0) | simple["features"]
    response = service.post("/api/predict", json=features, headers=user_headers)
    assert response.status_code == 200, response.text
    assert response.json()["home_win_probability"] == pytest.approx(
        simple["home_win_probability"], abs=1e-12
    )
    expected = "home" if simple["predicted_winner"] == "BOS" else "away"
    assert response.json()["predicted_winner"] == expected


def test_player_prediction_has_an_interval_from_the_eval_season(
    service, user_headers, stack, frames, trained
):
    player_id = int(frames.player_games["player_id"].iloc[0])
    name = frames.player_games["player_name"].iloc[0]
    by_id = service.post(
        "/api/predict/player",
        json={"player": player_id, "opponent": "LAL", "home": True, "game_date": GAME_DAY},
        headers={**user_headers, "X-Request-ID": "player-1"},
    )
    assert by_id.status_code == 200, by_id.text
    body = by_id.json()
    by_name = service.post(
        "/api/predict/player",
        json={"player": name.upper(), "opponent": "LAL", "home": True, "game_date": GAME_DAY},
        headers=user_headers,
    ).json()
    assert by_name["predicted_points"] == body["predicted_points"]
    assert body["player_name"] == name and body["team"] == "BOS"
    interval = body["interval"]
    # the residual quantiles the training run fit on 2022-23 for a prediction of this size
    (ridge,) = [m for m in trained if m.name == "player-ridge"]
    low, high = ridge.interval.bounds([body["predicted_points"]])
    assert (interval["low"], interval["high"]) == pytest.approx((low[0], high[0]))
    assert interval["low"] <= body["predicted_points"] <= interval["high"]
    rows = ridge.interval.rows[int(ridge.interval.bins([body["predicted_points"]])[0])]
    assert interval["level"] == 0.8
    assert (
        interval["basis"]
        == f"residuals of predictions this size on 2022-23 ({rows:,} player-games)"
    )
    # a version registered without them: plus or minus z x RMSE on its evaluation season
    loaded = runtime_of(service).models.get("player-ridge")
    plain = dataclasses.replace(loaded, points_interval=None).interval(body["predicted_points"])
    rmse = loaded.metrics["rmse"]
    assert plain["high"] - body["predicted_points"] == pytest.approx(1.2815515655446004 * rmse)
    assert plain["basis"] == f"rmse {rmse:.3f} on 2022-23"
    flush(service)
    (row,) = rows_for(stack, Prediction, "player-1")
    assert row.player_id == player_id and row.endpoint == "player"


def test_an_unreadable_interval_tag_falls_back_to_the_rmse_rule(caplog):
    from serving.models import _points_interval

    meta = {"name": "player-ridge", "version": "7", "points_interval": '{"level": 0.8}'}
    with caplog.at_level("WARNING", logger="serving.models"):
        assert _points_interval(meta) is None
    assert "points interval unreadable; the RMSE interval is served" in caplog.text
    assert _points_interval({"name": "player-ridge", "version": "7"}) is None


def test_a_model_version_is_a_json_integer_or_its_digits(service, user_headers, stack):
    version = stack.versions["game-logistic"]
    answers = [
        service.post(
            "/api/predict/simple",
            json={**MATCHUP, "model": "game-logistic", "model_version": given},
            headers=user_headers,
        )
        for given in (int(version), version)
    ]
    assert [a.status_code for a in answers] == [200, 200], answers[0].text
    assert [a.json()["model"]["version"] for a in answers] == [version, version]


def test_compare_shows_the_three_game_models(service, user_headers, stack):
    response = service.post("/api/predict/compare", json=MATCHUP, headers=user_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["model"]["name"] for p in body["predictions"]] == sorted(
        ["game-forest", "game-logistic", "game-tree"]
    )
    winners = {p["predicted_winner"] for p in body["predictions"]}
    assert body["agreement"] is (len(winners) == 1)


def test_a_batch_over_more_dates_than_the_service_builds_tables_for_is_400(service, user_headers):
    """Each new date builds its feature tables: a batch of 100 dates held a worker for seconds."""
    from serving.predict import BATCH_DATES

    first = date.fromisoformat(GAME_DAY)
    games = [
        {"home_team": "BOS", "away_team": "LAL", "game_date": str(first + timedelta(days=i))}
        for i in range(BATCH_DATES + 1)
    ]
    response = service.post("/api/predict/batch", json={"games": games}, headers=user_headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == (
        f"games: {BATCH_DATES + 1} game dates: at most {BATCH_DATES} in one batch (split it by "
        "date)"
    )


def test_batch_answers_each_game_in_order(service, user_headers, stack):
    games = [
        {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY},
        {"home_team": "NYK", "away_team": "GSW", "game_date": GAME_DAY},
        {"home_team": "LAL", "away_team": "BOS", "game_date": "2022-11-20", "neutral_site": True},
    ]
    response = service.post(
        "/api/predict/batch",
        json={"games": games},
        headers={**user_headers, "X-Request-ID": "batch-1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 3
    assert [(p["home_team"], p["away_team"]) for p in body["predictions"]] == [
        ("BOS", "LAL"),
        ("NYK", "GSW"),
        ("LAL", "BOS"),
    ]
    single = service.post("/api/predict/simple", json=games[1], headers=user_headers).json()
    # One row or three through the same model: equal up to the last bits of the float (the
    # matrix product's kernel depends on the row count and the CPU).
    assert body["predictions"][1]["home_win_probability"] == pytest.approx(
        single["home_win_probability"], abs=1e-12
    )
    flush(service)
    assert len(rows_for(stack, Prediction, "batch-1")) == 3


def test_a_request_id_is_made_when_none_or_a_bad_one_is_sent(service, user_headers):
    made = service.post("/api/predict/simple", json=MATCHUP, headers=user_headers)
    assert len(made.headers["x-request-id"]) == 32
    odd = service.post(
        "/api/predict/simple",
        json=MATCHUP,
        headers={**user_headers, "X-Request-ID": "bad id with spaces"},
    )
    assert odd.headers["x-request-id"] != "bad id with spaces"
    assert service.get("/api/health").headers["x-request-id"]


def test_health_reports_database_cache_and_models(service, stack):
    response = service.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["live"] and body["ready"]
    checks = body["checks"]
    assert checks["database"]["ok"] and checks["cache"] == {**checks["cache"], "backend": "memory"}
    assert {name: m["serving"] for name, m in checks["models"].items()} == stack.versions
    assert checks["data"]["games"] == len(stack.frames.games)


def test_health_says_how_old_the_stored_data_is(service, stack, monkeypatch):
    """No ingest run recorded: stale, and still ready. After a successful ingest it is fresh
    until more than NBA_STALE_INGEST_DAYS have passed, whatever the newest game's age (months
    old between seasons)."""
    from sqlalchemy import delete, insert

    import serving.runtime
    from core.db import IngestRun

    rt = runtime_of(service)
    response = service.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] and body["status"] == "ok"
    data = body["checks"]["data"]
    newest = pd.to_datetime(stack.frames.games["game_date"]).max().date()
    assert data["last_game_date"] == newest.isoformat()
    assert data["last_game_age_days"] == (datetime.now(UTC).date() - newest).days
    assert (data["last_ingest"], data["last_ingest_age_days"], data["stale"]) == (None, None, True)

    finished = datetime.now(UTC).replace(microsecond=0)
    run = {"source": "snapshot", "seasons": "x", "season_type": "regular", "status": "ok"}
    engine = rt.engine()
    with engine.begin() as conn:
        conn.execute(insert(IngestRun.__table__).values(**run, finished_at=finished))
    try:
        rt.refresh_data()
        limit = rt.settings.stale_ingest_days
        for days, stale in ((0, False), (limit, False), (limit + 1, True)):
            later = finished.date() + timedelta(days=days)
            monkeypatch.setattr(serving.runtime, "utc_today", lambda later=later: later)
            response = service.get("/api/health")
            assert response.status_code == 200 and response.json()["ready"]
            data = response.json()["checks"]["data"]
            assert data["last_ingest"] == finished.isoformat()
            assert (data["last_ingest_age_days"], data["stale"]) == (days, stale)
            assert data["last_game_age_days"] == (later - newest).days
    finally:
        with engine.begin() as conn:
            conn.execute(delete(IngestRun.__table__).where(IngestRun.seasons == "x"))
        rt.refresh_data()


@pytest.mark.parametrize(
    ("finished", "age", "stale"),
    [
        (datetime(2024, 4, 14, 1, tzinfo=UTC), 0, False),
        (datetime(2024, 4, 11, 23, 59, tzinfo=UTC), 3, False),
        (datetime(2024, 4, 10, 23, 59, tzinfo=UTC), 4, True),
        (datetime(2024, 4, 11, 1, tzinfo=timezone(timedelta(hours=5))), 4, True),  # 04-10 UTC
        (None, None, True),
    ],
)
def test_data_age_counts_days_from_the_last_ingest_in_utc(finished, age, stale):
    from serving.runtime import data_age

    on = date(2024, 4, 14)
    got = data_age(date(2023, 6, 12), finished, on, 3)
    assert (got["last_ingest_age_days"], got["stale"], got["last_game_age_days"]) == (
        age,
        stale,
        307,
    )


def test_metrics_are_prometheus_text(service, user_headers):
    for _ in range(2):  # a cache miss, then a hit
        service.post("/api/predict/simple", json=MATCHUP, headers=user_headers)
    response = service.get("/api/metrics", headers=user_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        'nba_predictions_total{endpoint="simple",model="game-logistic",version="1"}',
        "nba_request_latency_seconds_bucket",
        'nba_cache_hits_total{endpoint="simple"}',
        'nba_cache_misses_total{endpoint="simple"}',
        "nba_errors_total",
        "nba_models_loaded 4.0",
        'nba_model_serving{model="player-ridge",version="1"} 1.0',
        "nba_uptime_seconds",
    ):
        assert name in text, name


def test_models_list_and_one_version(service, user_headers, stack):
    listing = service.get("/api/models", headers=user_headers)
    assert listing.status_code == 200
    models = {m["name"]: m for m in listing.json()["models"]}
    assert set(models) == set(stack.versions)
    assert models["game-logistic"]["serving"] == stack.versions["game-logistic"]
    one = service.get("/api/models/game-logistic/1", headers=user_headers)
    assert one.status_code == 200
    body = one.json()
    assert "champion" in body["aliases"]
    assert body["eval_season"] == "2022-23" and body["train_seasons"]
    assert "log_loss" in body["metrics"] and body["trained_at"]
    assert body["serving"] is True
    assert service.get("/api/models/game-logistic/99", headers=user_headers).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/models/game-foo/1"),
        ("post", "/api/models/game-foo/1/load"),
        ("delete", "/api/models/game-foo/1/unload"),
    ],
)
def test_a_model_name_in_a_path_that_is_none_of_the_six_is_a_400_naming_it(
    service, admin_headers, method, path
):
    response = getattr(service, method)(path, headers=admin_headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert _locs(body) == ["path.name"], body
    assert "unknown model 'game-foo' (known: game-logistic, game-tree, " in body["error"], body


def test_a_model_name_in_a_body_that_is_none_of_the_six_is_a_400_naming_it(service, user_headers):
    body = {"home_team": "BOS", "away_team": "LAL", "game_date": GAME_DAY, "model": "game-foo"}
    response = service.post("/api/predict/simple", json=body, headers=user_headers)
    assert response.status_code == 400, response.text
    assert "unknown model 'game-foo' (known: game-logistic, game-tree, " in response.json()["error"]


def test_a_model_version_that_does_not_exist_is_not_sent_to_the_load_route(
    service, user_headers, stack
):
    """Only a registered version is worth loading: for another the answer says which exist."""
    response = service.post(
        "/api/predict/simple", json={**MATCHUP, "model_version": 9}, headers=user_headers
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert _locs(response.json()) == ["model_version"]
    assert "game-logistic has no version 9" in error, error
    assert f"(its versions: {stack.versions['game-logistic']};" in error, error
    assert "/load" not in error, error


def test_load_and_unload_need_an_admin_and_are_audited(service, user_headers, admin_headers, stack):
    forbidden = service.post(
        "/api/models/game-tree/1/load", headers={**user_headers, "X-Request-ID": "load-0"}
    )
    assert forbidden.status_code == 403
    loaded = service.post(
        "/api/models/game-tree/1/load", headers={**admin_headers, "X-Request-ID": "load-1"}
    )
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["serving"] is True
    busy = service.delete("/api/models/game-tree/1/unload", headers=admin_headers)
    assert busy.status_code == 409  # the version answering cannot be unloaded
    missing = service.post("/api/models/game-tree/42/load", headers=admin_headers)
    assert missing.status_code == 404
    assert (
        service.delete("/api/models/game-tree/42/unload", headers=admin_headers).status_code == 404
    )
    flush(service)
    (audit,) = rows_for(stack, AuditLog, "load-1")
    assert (audit.action, audit.username, audit.target, audit.success) == (
        "model_load",
        ADMIN,
        "game-tree:v1",
        True,
    )
    (refused,) = rows_for(stack, AuditLog, "load-0")
    assert (refused.action, refused.username, refused.success) == ("model_load", USER, False)


def test_logins_are_audited(service, stack):
    response = service.post(
        "/api/auth/login",
        json={"username": USER, "password": "wrong-password"},
        headers={"X-Request-ID": "login-bad-1"},
    )
    assert response.status_code == 401
    flush(service)
    (audit,) = rows_for(stack, AuditLog, "login-bad-1")
    assert (audit.action, audit.success, audit.client_ip) == ("login", False, "testclient")


def test_drift_endpoints_read_the_reports_table(service, user_headers, stack):
    engine = create_engine(stack.database_url)
    with engine.begin() as conn:
        for i, kind in enumerate(("features", "predictions", "features")):
            conn.execute(
                DriftReport.__table__.insert().values(
                    created_at=datetime(2024, 1, 1 + i, tzinfo=UTC),
                    kind=kind,
                    model_name="game-logistic",
                    model_version="1",
                    reference_window="2022-23",
                    current_window=f"2023-10-0{i + 1}..2023-12-31",
                    share_drifted=0.1 * (i + 1),
                    drift_detected=i == 2,
                    failed_tests=i,
                    html_path=f"/reports/{kind}-{i}.html",
                    json_path=f"/reports/{kind}-{i}.json",
                    summary={"drifted": ["home_elo"] if i == 2 else []},
                )
            )
    engine.dispose()
    listing = service.get("/api/drift", headers=user_headers).json()
    assert listing["count"] == 3
    # times carry their UTC offset, whatever the database (SQLite keeps no zone)
    assert all(r["created_at"].endswith("+00:00") for r in listing["reports"]), listing
    # No absolute server path: a file outside the reports folder shows its name only.
    assert listing["reports"][0]["html_path"] == "features-2.html"
    assert service.get("/api/drift?kind=predictions", headers=user_headers).json()["count"] == 1
    one = service.get("/api/drift?model=game-logistic&kind=features", headers=user_headers)
    assert one.json()["count"] == 2
    assert service.get("/api/drift?model=player-ridge", headers=user_headers).json()["count"] == 0
    # a typo in a filter is a 400 naming it, not an empty list that reads "no reports"
    for query, says in (
        ("kind=feature", "query.kind: Input should be 'features', 'predictions' or 'performance'"),
        ("model=game-logistik", "query.model: Input should be 'game-logistic', 'game-tree'"),
    ):
        response = service.get(f"/api/drift?{query}", headers=user_headers)
        assert response.status_code == 400, response.text
        assert says in response.json()["error"]
    latest = service.get("/api/drift/latest", headers=user_headers).json()
    assert latest["latest"]["drift_detected"] is True
    assert latest["by_kind"]["features"]["json_path"] == "features-2.json"
    assert latest["by_kind"]["predictions"]["share_drifted"] == pytest.approx(0.2)


KINDS = ("features", "predictions", "performance")


def test_latest_drift_keeps_each_models_newest_reports_after_a_one_task_check(
    service, user_headers, stack
):
    # A check of both tasks, then a game-only one a week later: the points model's reports are
    # still its newest and must stay listed beside the game model's new ones.
    both = [
        {"created_at": datetime(2025, 3, 1, tzinfo=UTC), "kind": k, "model_name": m}
        for m in ("game-tree", "player-lasso")
        for k in KINDS
    ]
    game = [
        {"created_at": datetime(2025, 3, 8, tzinfo=UTC), "kind": k, "model_name": "game-tree"}
        for k in KINDS
    ]
    with drift_reports(stack.database_url, *both, *game) as ids:
        points_ids = dict(zip(KINDS, ids[3:6], strict=True))
        game_ids = dict(zip(KINDS, ids[6:], strict=True))

        def latest(query: str = "") -> dict:
            response = service.get(f"/api/drift/latest{query}", headers=user_headers)
            assert response.status_code == 200, response.text
            return response.json()

        def ids_of(by_kind: dict) -> dict:
            return {kind: row["id"] for kind, row in by_kind.items()}

        doc = latest()
        assert ids_of(doc["by_model"]["player-lasso"]) == points_ids
        assert ids_of(doc["by_model"]["game-tree"]) == game_ids
        # by_kind keeps its meaning: the newest report of each kind, whatever the model.
        assert ids_of(doc["by_kind"]) == game_ids
        assert doc["latest"]["id"] == game_ids["performance"]

        points = latest("?model=player-lasso")
        assert set(points["by_model"]) == {"player-lasso"}
        assert ids_of(points["by_kind"]) == points_ids
        assert points["latest"]["id"] == points_ids["performance"]
        performance = latest("?kind=performance")
        assert {k for rows in performance["by_model"].values() for k in rows} == {"performance"}
        assert (
            performance["by_model"]["player-lasso"]["performance"]["id"]
            == points_ids["performance"]
        )
        one = latest("?model=player-lasso&kind=features")
        assert ids_of(one["by_kind"]) == {"features": points_ids["features"]}
        empty = latest("?model=player-ridge")
        assert empty == {"latest": None, "by_kind": {}, "by_model": {}}


def test_the_openapi_document_is_valid_and_declares_the_token_and_every_answer_field(
    service, user_headers
):
    from openapi_spec_validator import OpenAPIV30SpecValidator

    doc = service.get("/docs.json").json()
    OpenAPIV30SpecValidator(doc).validate()
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    paths = doc["paths"]
    assert paths["/api/models"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/api/predict/simple"]["post"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/api/health"]["get"]
    assert "security" not in paths["/api/auth/login"]["post"]
    player = {"player": 127380, "opponent": "LAL", "home": True, "game_date": GAME_DAY}
    for path, body in (("/api/predict/simple", MATCHUP), ("/api/predict/player", player)):
        schema = paths[path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        answer = service.post(path, json=body, headers=user_headers).json()
        assert set(answer) <= set(schema["properties"]), path
        assert schema["properties"]["history_through"]["nullable"] is True
    assert schema["properties"]["interval"]["nullable"] is True  # the player answer's


def test_the_openapi_413_names_the_body_limit_the_middleware_enforces(service, monkeypatch):
    from serving import middleware
    from serving.openapi import document
    from serving.service import PredictionService

    def too_large(doc: dict) -> str:
        return doc["paths"]["/api/predict/simple"]["post"]["responses"]["413"]["description"]

    served = service.get("/docs.json").json()
    assert too_large(served).startswith(f"Body over {middleware.MAX_BODY_BYTES} bytes")
    # Built from the constant, not a copy of it: another limit, another text.
    monkeypatch.setattr(middleware, "MAX_BODY_BYTES", 64 * 1024)
    assert too_large(document(PredictionService.openapi_spec.asdict())) == "Body over 65536 bytes"


# Bad input: always a 4xx naming the field ------------------------------------------------------
def _locs(body) -> list[str]:
    return [".".join(str(p) for p in d.get("loc", [])) for d in body.get("detail", [])]


BAD_REQUESTS = [
    ("/api/predict/simple", {"away_team": "LAL"}, "home_team"),
    ("/api/predict/simple", {**MATCHUP, "home_team": "XYZ"}, "home_team"),
    ("/api/predict/simple", {**MATCHUP, "away_team": "BOS"}, "away_team"),
    ("/api/predict/simple", {**MATCHUP, "game_date": "2024-13-45"}, "game_date"),
    ("/api/predict/simple", {**MATCHUP, "game_date": 20240101}, "game_date"),
    ("/api/predict/simple", {**MATCHUP, "game_date": "1900-01-01"}, "game_date"),
    ("/api/predict/simple", {**MATCHUP, "home_team": 123}, "home_team"),
    ("/api/predict/simple", {**MATCHUP, "neutral_site": "maybe"}, "neutral_site"),
    ("/api/predict/simple", {**MATCHUP, "colour": "green"}, "colour"),
    ("/api/predict/simple", {**MATCHUP, "model": "no-such-model"}, "model"),
    ("/api/predict/simple", {**MATCHUP, "model": "player-ridge"}, "model"),
    ("/api/predict/simple", {**MATCHUP, "model_version": "99"}, "model_version"),
    ("/api/predict/simple", {**MATCHUP, "model_version": "latest"}, "model_version"),
    ("/api/predict/simple", {**MATCHUP, "model_version": "01"}, "model_version"),
    ("/api/predict/simple", {**MATCHUP, "model_version": 0}, "model_version"),
    ("/api/predict/simple", {**MATCHUP, "model_version": -1}, "model_version"),
    ("/api/predict/simple", {**MATCHUP, "model_version": True}, "model_version"),
    ("/api/predict/simple", {**MATCHUP, "model_version": 1.0}, "model_version"),
    ("/api/predict/simple", {**MATCHUP, "neutral_site": "yes"}, "neutral_site"),
    ("/api/predict/simple", {**MATCHUP, "neutral_site": 1}, "neutral_site"),
    ("/api/predict/player", {"player": "Nobody At All", "opponent": "LAL", "home": True}, "player"),
    ("/api/predict/player", {"player": 999999, "opponent": "LAL", "home": True}, "player"),
    ("/api/predict/player", {"player": 127380, "opponent": "BOS", "home": True}, "opponent"),
    ("/api/predict/player", {"player": 127380, "opponent": "LAL"}, "home"),
    ("/api/predict/player", {"player": 127380, "opponent": "LAL", "home": "yes"}, "home"),
    ("/api/predict/player", {"player": "\u00b2", "opponent": "LAL", "home": True}, "player"),
    ("/api/predict/player", {"player": True, "opponent": "LAL", "home": True}, "player"),
    (
        "/api/predict/player",
        {"player": 127380, "opponent": "LAL", "home": True, "team": "QQQ"},
        "team",
    ),
    (
        "/api/predict/player",
        {"player": 127380, "opponent": "LAL", "home": True, "model": "game-tree"},
        "model",
    ),
    ("/api/predict/batch", {"games": []}, "games"),
    ("/api/predict/batch", {"games": [MATCHUP] * 101}, "games"),
    (
        "/api/predict/batch",
        {"games": [MATCHUP, MATCHUP, {**MATCHUP, "away_team": "ZZZ"}]},
        "games.2.away_team",
    ),
    ("/api/predict/batch", {"games": "BOS-LAL"}, "games"),
    ("/api/predict/compare", {**MATCHUP, "away_team": "bos"}, "away_team"),
    ("/api/predict", {name: 0.0 for name in GAME_FEATURES[1:]}, GAME_FEATURES[0]),
    ("/api/predict", dict.fromkeys(GAME_FEATURES, 0.0) | {"home_elo": "high"}, "home_elo"),
    ("/api/predict", dict.fromkeys(GAME_FEATURES, 0.0) | {"home_elo": True}, "home_elo"),
    ("/api/predict", dict.fromkeys(GAME_FEATURES, 0.0) | {"home_elo": "1500.5"}, "home_elo"),
]


@pytest.mark.parametrize(("path", "body", "field"), BAD_REQUESTS)
def test_bad_input_is_a_4xx_naming_the_field(service, user_headers, path, body, field):
    response = service.post(path, json=body, headers=user_headers)
    assert 400 <= response.status_code < 500, response.text
    detail = response.json()
    assert any(loc == field or loc.startswith(field) for loc in _locs(detail)), detail
    # One shape for every error: the message names the field, items are loc / msg / type.
    assert field.split(".")[0] in detail["error"], detail
    assert all(set(item) == {"loc", "msg", "type"} for item in detail["detail"]), detail


@pytest.mark.parametrize(
    ("player", "says"),
    [
        (True, "Input should be a player ID (an integer) or a full name (a string)"),
        (12.5, "Input should be a player ID (an integer) or a full name (a string)"),
        ("x" * 200, "String should have at most 128 characters"),
        ("Le\u0007Bron", "The name should hold no control characters"),
    ],
    ids=["bool", "float", "long-name", "control-character"],
)
def test_a_wrong_player_is_one_error_in_the_callers_terms(service, user_headers, player, says):
    """The ID-or-name union does not leak into the answer as one error per branch."""
    body = {"player": player, "opponent": "LAL", "home": True}
    response = service.post("/api/predict/player", json=body, headers=user_headers)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": f"1 validation error(s): player: {says}",
        "detail": [{"loc": ["player"], "msg": says, "type": response.json()["detail"][0]["type"]}],
    }


VERSION_SAYS = 'Input should be a version number such as 3 or "3"'


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/predict/simple", MATCHUP),
        ("/api/predict/batch", {"games": [MATCHUP]}),
        ("/api/predict/player", {"player": 127380, "opponent": "LAL", "home": True}),
        ("/api/predict", dict.fromkeys(GAME_FEATURES, 0.0)),
    ],
    ids=["simple", "batch", "player", "features"],
)
@pytest.mark.parametrize(
    "version", [True, False, 3.5, 1.0, [3], {"version": 3}, 0, -1, "01", "latest", ""], ids=repr
)
def test_a_model_version_of_another_type_says_what_a_version_is(
    service, user_headers, path, body, version
):
    """Not pydantic's "Input should be a valid string" or "String should match pattern ...": a
    version is 3 or "3"."""
    response = service.post(path, json={**body, "model_version": version}, headers=user_headers)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": f"1 validation error(s): model_version: {VERSION_SAYS}",
        "detail": [{"loc": ["model_version"], "msg": VERSION_SAYS, "type": "model_version"}],
    }


def test_a_model_of_the_product_without_a_champion_is_503_not_a_bad_request(
    service, user_headers, monkeypatch
):
    """player-lasso is one of the six models but has no champion here: the service cannot
    answer yet (503 with Retry-After); a name that is no model at all stays a 400."""
    player = {"player": 127380, "opponent": "LAL", "home": True, "game_date": GAME_DAY}
    asked = service.post(
        "/api/predict/player", json={**player, "model": "player-lasso"}, headers=user_headers
    )
    assert asked.status_code == 503, asked.text
    assert asked.headers["Retry-After"] == "30"
    assert "model 'player-lasso' is not available: it has no champion" in asked.json()["error"]
    unknown = service.post(
        "/api/predict/player", json={**player, "model": "player-bogus"}, headers=user_headers
    )
    assert unknown.status_code == 400, unknown.text
    runtime = runtime_of(service)
    lasso = runtime.settings.model_copy(update={"default_points_model": "player-lasso"})
    monkeypatch.setattr(runtime, "settings", lasso)  # the configured default has no champion
    by_default = service.post("/api/predict/player", json=player, headers=user_headers)
    assert by_default.status_code == 503, by_default.text
    assert "player-lasso" in by_default.json()["error"]


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b"", b'"text"', b"null", b'{"home_team": "BOS", "away_team": NaN}'],
)
def test_malformed_bodies_are_400(service, user_headers, raw):
    response = service.post(
        "/api/predict/simple",
        content=raw,
        headers={**user_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert "error" in response.json()


def test_an_error_of_the_whole_body_reads_as_one_clause(service, user_headers):
    response = service.post(
        "/api/predict/simple",
        content=b"{not json",
        headers={**user_headers, "Content-Type": "application/json"},
    )
    error = response.json()["error"]
    assert error.startswith("1 validation error(s): ") and ": :" not in error, error


def test_only_json_bodies_are_read(service, user_headers):
    for media in ("multipart/form-data", "application/x-www-form-urlencoded", "text/plain"):
        response = service.post(
            "/api/predict/simple",
            content=b"home_team=BOS",
            headers={**user_headers, "Content-Type": media},
        )
        assert response.status_code == 415, response.text
        assert response.json()["detail"][0]["loc"] == ["header", "content-type"]


def test_non_finite_features_are_refused(service, user_headers):
    raw = (
        "{"
        + ",".join(f'"{n}": 1.0' for n in GAME_FEATURES[1:])
        + f', "{GAME_FEATURES[0]}": Infinity}}'
    ).encode()
    response = service.post(
        "/api/predict", content=raw, headers={**user_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert GAME_FEATURES[0] in str(response.json())


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/models/game-logistic/abc", "version"),
        ("/api/models/game-logistic/000001", "version"),
        ("/api/models/bad name!/1", "name"),
        ("/api/drift?limit=0", "limit"),
        ("/api/drift?limit=many", "limit"),
        ("/api/drift/latest?kind=feature", "kind"),
        ("/api/drift/latest?model=game-logistik", "model"),
    ],
)
def test_bad_paths_and_queries_are_400_naming_the_field(service, user_headers, path, field):
    response = service.get(path, headers=user_headers)
    assert response.status_code == 400, response.text
    assert any(loc.endswith(field) for loc in _locs(response.json()))


def test_a_query_parameter_the_route_does_not_take_is_400_naming_it(service, user_headers):
    """A misspelt filter would otherwise answer every report, unfiltered."""
    response = service.get("/api/drift?modle=game-logistic&limit=5", headers=user_headers)
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == [
        {
            "loc": ["query", "modle"],
            "msg": "unknown query parameter; this route takes kind, limit, model",
            "type": "extra_forbidden",
        }
    ]
    bare = service.get("/api/teams?search=BOS", headers=user_headers)
    assert bare.status_code == 400
    assert bare.json()["error"] == (
        "1 validation error(s): query.search: unknown query parameter; this route takes none"
    )
    # the parameters a route takes still work, and a route with a path parameter too
    assert service.get("/api/drift?model=game-logistic", headers=user_headers).status_code == 200
    assert service.get("/api/players?search=a&limit=1", headers=user_headers).status_code == 200
    one = service.get("/api/models/game-logistic/1?verbose=1", headers=user_headers)
    assert one.status_code == 400 and _locs(one.json()) == ["query.verbose"]
    # the prediction routes read their body only
    posted = service.post("/api/predict/simple?x=1&y", json=MATCHUP, headers=user_headers)
    assert posted.status_code == 400 and _locs(posted.json()) == ["query.x", "query.y"]
    assert "this route takes none" in posted.json()["error"]
    assert service.post("/api/predict/simple", json=MATCHUP, headers=user_headers).is_success


def test_unknown_routes_and_methods_are_4xx_in_the_same_words(service, user_headers):
    """BentoML's routes (the predictions) and FastAPI's (the rest) answer alike."""
    missing = service.get("/api/nothing-here", headers=user_headers)
    assert missing.status_code == 404
    assert missing.json() == {"error": "no such route; see /docs.json"}
    # a trailing slash is an unknown path too, not a redirect (which would drop a POST's body)
    for slashed in ("/api/teams/", "/api/models/"):
        answer = service.get(slashed, headers=user_headers, follow_redirects=False)
        assert answer.status_code == 404, slashed
        assert answer.json() == {"error": "no such route; see /docs.json"}, slashed
    slashed = service.post(
        "/api/predict/simple/", json=MATCHUP, headers=user_headers, follow_redirects=False
    )
    assert slashed.status_code == 404 and "location" not in slashed.headers
    # a load balancer's HEAD health check
    head = service.head("/api/health")
    assert head.status_code == service.get("/api/health").status_code
    for route in ("/api/predict/simple", "/api/models", "/api/models/game-logistic/1/load"):
        wrong_method = service.put(route, headers=user_headers)
        assert wrong_method.status_code == 405, route
        assert wrong_method.json() == {
            "error": "method not allowed on this route; see /docs.json"
        }, route
        assert wrong_method.headers.get("allow"), route


def test_stored_times_are_written_with_their_utc_offset():
    """SQLite gives back the stored UTC times without their zone, PostgreSQL with it (the
    drift routes above run on PostgreSQL)."""
    from datetime import UTC, datetime, timedelta, timezone

    from serving.routes import utc_text

    assert utc_text(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05+00:00"
    assert utc_text(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05+00:00"
    east = timezone(timedelta(hours=-5))
    assert utc_text(datetime(2024, 1, 2, 3, tzinfo=east)) == "2024-01-02T03:00:00-05:00"
    assert utc_text(None) is None
