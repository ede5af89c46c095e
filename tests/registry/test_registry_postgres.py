"""The registry on PostgreSQL: MLflow's backend store and model_metadata on the shared server."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from registry import gate_and_promote, get_champion, list_registered, load_model, rollback

pytestmark = pytest.mark.postgres

SERVER = "postgres@127.0.0.1:5432"


def _admin_connection():
    import psycopg2

    try:
        connection = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3
        )
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {exc}")
    connection.autocommit = True
    return connection


@pytest.fixture
def pg_databases():
    """Two fresh databases (MLflow store, application), dropped afterwards."""
    admin = _admin_connection()
    names = [f"registry_test_{kind}_{uuid.uuid4().hex[:10]}" for kind in ("mlflow", "app")]
    with admin.cursor() as cursor:
        for name in names:
            cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield [f"postgresql+psycopg2://{SERVER}/{name}" for name in names]
    finally:
        with admin.cursor() as cursor:
            for name in names:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_registry_flow_on_postgresql(
    pg_databases, tmp_path, register_with, game_metrics, games_frame, logistic
):
    from sqlalchemy import select

    from core.db import Base, ModelMetadata, make_engine, session_scope

    tracking_uri, app_url = pg_databases
    engine = make_engine(app_url)
    Base.metadata.create_all(engine)
    register = register_with(tracking_uri, (tmp_path / "mlartifacts").as_uri())
    try:
        register(game_metrics(log_loss=0.65), engine=engine)
        assert gate_and_promote(tracking_uri, "game-logistic", "1", engine=engine).promote
        register(game_metrics(log_loss=0.62), engine=engine)
        assert gate_and_promote(tracking_uri, "game-logistic", "2", engine=engine).promote

        champion = get_champion(tracking_uri, "game-logistic")
        assert (champion.version, champion.tags["previous_champion"]) == ("2", "1")
        model, info = load_model(tracking_uri, "game-logistic", "champion")
        frame, _ = games_frame
        np.testing.assert_allclose(model.predict_proba(frame), logistic.predict_proba(frame))
        assert info.metrics["log_loss.2023-24"] == pytest.approx(0.62)

        assert rollback(tracking_uri, "game-logistic", actor="alice", engine=engine) == "1"
        assert get_champion(tracking_uri, "game-logistic").version == "1"
        assert list_registered(tracking_uri)[0]["champion"] == "1"

        with session_scope(engine) as session:
            actions = session.scalars(select(ModelMetadata.action).order_by(ModelMetadata.id))
            assert list(actions) == ["register", "promote", "register", "promote", "rollback"]
    finally:
        engine.dispose()
