"""The MLflow store unreachable for training, and registrations that fail half way.

The unreachable stores are real: tracking URIs of an MLflow server and of a PostgreSQL database
on ports nothing listens on. Training then fails at once with exit code 4 and a one-line reason,
before it trains. A registration failing after its version was created leaves no version, the run
marked FAILED; a gate failing after it moved an alias puts ``champion`` and ``challenger`` back.
(The service's side of an MLflow outage is in tests/serving/test_degraded_mode.py.)
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from flows.cli import EXIT_UNAVAILABLE, app
from registry import check_tracking, gate_and_promote, log_training_run
from registry.client import RegistryUnavailable
from tests.servers import free_port

runner = CliRunner()
NAME = "game-logistic"
METRICS = {"log_loss": 0.66, "brier": 0.23, "accuracy": 0.6, "roc_auc": 0.64}


# Training and registration ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "dead_uri",
    [
        "http://127.0.0.1:{port}",
        "postgresql+psycopg2://mlflow:secret-pw@127.0.0.1:{port}/mlflow",
    ],
    ids=["server", "database"],
)
def test_check_tracking_fails_fast_and_names_the_store(dead_uri):
    uri = dead_uri.format(port=free_port())
    started = time.perf_counter()
    with pytest.raises(RegistryUnavailable, match="unreachable") as caught:
        check_tracking(uri)
    assert time.perf_counter() - started < 5
    assert "secret-pw" not in str(caught.value) and "127.0.0.1" in str(caught.value)


def test_check_tracking_refuses_a_server_that_is_not_healthy():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Unhealthy(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Unhealthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(RegistryUnavailable, match="not healthy \\(HTTP 503\\)"):
            check_tracking(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()


def test_check_tracking_accepts_a_live_store(pg_url, tmp_path):
    check_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")  # local: nothing to reach
    check_tracking(pg_url)  # a PostgreSQL server that answers


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("kind", ["server", "database"])
def test_train_with_mlflow_unreachable_exits_4_before_training(clean_env, monkeypatch, kind):
    port = free_port()
    uri = (
        f"http://127.0.0.1:{port}"
        if kind == "server"
        else f"postgresql+psycopg2://postgres:pw-123@127.0.0.1:{port}/mlflow"
    )
    monkeypatch.setenv("NBA_MLFLOW_TRACKING_URI", uri)
    started = time.perf_counter()
    result = runner.invoke(app, ["train"])
    assert result.exit_code == EXIT_UNAVAILABLE, result.output
    text = " ".join(result.output.split())  # the console wraps long lines
    assert text.count("error:") == 1 and "unreachable" in text and f":{port}" in text
    assert "Traceback" not in result.output and "pw-123" not in result.output
    assert time.perf_counter() - started < 60  # failed at the check, not after training
    # Nothing was read or written: not even the default store was created.
    assert not (clean_env / "state" / "nba.db").exists()


def _aliases(uri: str, name: str) -> dict[str, str]:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


@pytest.fixture(scope="module")
def small_model():
    """A fitted pipeline on two features, and an example of its input."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 2)), columns=["home_elo", "away_elo"])
    model = make_pipeline(StandardScaler(), LogisticRegression())
    return model.fit(frame, (frame["home_elo"] > frame["away_elo"]).astype(int)), frame


def _register(uri: str, tmp_path, small_model, metrics=METRICS):
    model, frame = small_model
    return log_training_run(
        tracking_uri=uri,
        artifact_location=(tmp_path / "mlartifacts").as_uri(),
        experiment="nba-fault-tests",
        model_name=NAME,
        task="game",
        model=model,
        params={"C": 1.0},
        metrics=metrics,
        feature_names=list(frame.columns),
        lineage={"seasons": ["2021-22"]},
        figures=None,
        input_example=frame.head(3),
        eval_season="2021-22",
        train_seasons=["2020-21"],
    )


def test_a_registration_failing_half_way_moves_no_alias_and_fails_the_run(
    small_model, tmp_path, monkeypatch
):
    from sqlalchemy import create_engine

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = _register(uri, tmp_path, small_model)
    assert gate_and_promote(uri, NAME, first.version).promote
    before = {"champion": "1", "challenger": "1"}
    assert _aliases(uri, NAME) == before
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    # The store fails after the version was created, while it is being tagged.
    def lost(*args, **kwargs):
        raise RegistryUnavailable("MLflow tracking server went away")

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "set_model_version_tag", lost)
        with pytest.raises(RegistryUnavailable):
            _register(uri, tmp_path, small_model)
    versions = client.search_model_versions(f"name = '{NAME}'")
    assert [str(v.version) for v in versions] == ["1"]  # the half-registered version is gone
    experiment = client.get_experiment_by_name("nba-fault-tests").experiment_id
    statuses = sorted(r.info.status for r in client.search_runs([experiment]))
    assert statuses == ["FAILED", "FINISHED"]
    assert _aliases(uri, NAME) == before

    # A better version passes the gate, then its audit row cannot be written: aliases put back.
    better = _register(uri, tmp_path, small_model, {**METRICS, "log_loss": 0.5})
    unmigrated = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no model_metadata table
    with pytest.raises(Exception, match="model_metadata"):
        gate_and_promote(uri, NAME, better.version, engine=unmigrated)
    unmigrated.dispose()
    assert _aliases(uri, NAME) == before

    # The same gate with nothing failing promotes it.
    assert gate_and_promote(uri, NAME, better.version).promote
    assert _aliases(uri, NAME) == {"champion": better.version, "challenger": better.version}
