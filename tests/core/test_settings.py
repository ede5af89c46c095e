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
