"""Settings: fresh-machine defaults, environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import DataDirError, Settings


def test_defaults_use_one_local_state_folder(clean_env):
    s = Settings()
    state = (clean_env / "state").resolve()
    assert s.state_dir == state
    assert s.resolved_database_url == f"sqlite:///{state / 'nba.db'}"
    assert s.resolved_mlflow_tracking_uri == f"sqlite:///{state / 'mlflow.db'}"
    assert s.redis_url is None


def test_urls_switch_to_real_servers(clean_env, monkeypatch):
    monkeypatch.setenv("NBA_DATABASE_URL", "postgresql+psycopg2://u@127.0.0.1:5432/nba")
    monkeypatch.setenv("NBA_MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("NBA_REDIS_URL", "redis://127.0.0.1:6379/0")
    s = Settings()
    assert s.resolved_database_url.startswith("postgresql+psycopg2://")
    assert s.resolved_mlflow_tracking_uri == "http://127.0.0.1:5000"
    assert s.redis_url == "redis://127.0.0.1:6379/0"


def test_missing_data_dir_names_the_setting(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("NBA_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(DataDirError, match="NBA_DATA_DIR"):
        Settings().resolved_data_dir()
    assert not Settings().has_snapshot()


def test_default_data_dir_is_found_beside_the_checkout(clean_env, monkeypatch, data_dir):
    monkeypatch.delenv("NBA_DATA_DIR", raising=False)
    assert Settings().resolved_data_dir() == Path(data_dir).resolve()


def test_no_snapshot_anywhere_is_a_clear_error(clean_env, monkeypatch, tmp_path):
    monkeypatch.delenv("NBA_DATA_DIR", raising=False)
    monkeypatch.setattr("core.settings.default_data_dir_candidates", lambda: [tmp_path / "x"])
    with pytest.raises(DataDirError, match="NBA_DATA_DIR"):
        Settings().resolved_data_dir()


def test_bad_values_are_refused(clean_env, monkeypatch):
    monkeypatch.setenv("NBA_NBA_API_TIMEOUT", "-1")
    with pytest.raises(ValueError, match="nba_api_timeout"):
        Settings()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("notaurl", "http:// or https:// URL, got no scheme"),
        ("hooks.example.com/services/T0/secret-token", "http:// or https:// URL, got no scheme"),
        ("ftp://hooks.example.com/secret-token", "http:// or https:// URL, got ftp://"),
        ("https:///secret-token", "must name a host"),
        ("https://hooks.example.com:port/secret-token", "port that is not a number"),
    ],
)
def test_a_malformed_webhook_url_is_refused_without_quoting_it(
    clean_env, monkeypatch, url, message
):
    from pydantic import ValidationError

    monkeypatch.setenv("NBA_WEBHOOK_URL", url)
    with pytest.raises(ValidationError, match=message) as refused:
        Settings()
    assert refused.value.errors()[0]["loc"] == ("webhook_url",)
    assert "secret-token" not in str(refused.value)  # a flow run's log would keep it


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://hooks.example.com/services/T0", "https://hooks.example.com/services/T0"),
        ("http://127.0.0.1:8080/hook ", "http://127.0.0.1:8080/hook"),
        ("HTTPS://Hooks.example.com/T0/AbC", "https://Hooks.example.com/T0/AbC"),
        ("", None),  # NBA_WEBHOOK_URL= in an env file: no webhook
    ],
)
def test_a_webhook_url_is_kept_or_unset(clean_env, monkeypatch, url, kept):
    monkeypatch.setenv("NBA_WEBHOOK_URL", url)
    assert Settings().webhook_url == kept


SECRETS = {
    "database_url": "postgresql+psycopg2://nba:db-pass-1@127.0.0.1:5432/nba",
    "mlflow_tracking_uri": "https://ml:ml-pass-2@127.0.0.1:5000",
    "redis_url": "redis://:redis-pass-3@127.0.0.1:6379/0",
    "jwt_secret": "jwt-secret-4-" + "x" * 32,
    "webhook_url": "https://hooks.example.com/services/T0/B0/webhook-token-5",
}


@pytest.mark.parametrize(
    "flow_path",
    [
        "flows.ingest:ingest_flow",
        "flows.ingest:schedule_flow",
        "flows.training:training_flow",
        "flows.drift:drift_flow",
        "flows.replay:replay_flow",
    ],
)
def test_flow_run_parameters_carry_no_secret(clean_env, flow_path):
    """Prefect stores a flow run's parameters (and shows them in its UI) as their JSON form: the
    settings passed to a flow leave their secrets out; in Python they are intact."""
    import importlib
    import json

    module, name = flow_path.split(":")
    flow = getattr(importlib.import_module(module), name)
    settings = Settings(**SECRETS)
    stored = json.dumps(flow.serialize_parameters({"settings": settings}))
    for secret in ("db-pass-1", "ml-pass-2", "redis-pass-3", "jwt-secret-4", "webhook-token-5"):
        assert secret not in stored
    shown = json.loads(stored)["settings"]
    assert shown["database_url"] == "postgresql+psycopg2://***@127.0.0.1:5432/nba"
    assert shown["webhook_url"] == "https://hooks.example.com/***"
    assert shown["jwt_secret"] == "***"
    assert settings.database_url == SECRETS["database_url"]
    assert settings.model_dump()["jwt_secret"] == SECRETS["jwt_secret"]
