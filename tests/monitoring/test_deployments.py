"""``prefect.yaml``: valid for Prefect's own schema, every entrypoint loads and accepts its
parameters, and ``prefect --no-prompt deploy --all`` registers the deployments with their
schedules on a test server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

PREFECT_YAML = REPO / "prefect.yaml"
EXPECTED = {
    "daily-ingest": ("ingest", "0 10 * * *"),
    "daily-drift-check": ("drift-check", "0 11 * * *"),
    "weekly-retrain": ("retrain", "0 12 * * 1"),
}
POOL = "nba-process"


@pytest.fixture(scope="module")
def config():
    from prefect.cli.deploy._models import PrefectYamlModel

    return PrefectYamlModel.model_validate(yaml.safe_load(PREFECT_YAML.read_text()))


def test_prefect_yaml_follows_prefects_schema(config):
    assert {d.name for d in config.deployments} == set(EXPECTED)
    for deployment in config.deployments:
        assert deployment.work_pool.name == POOL
        (schedule,) = deployment.schedules
        assert schedule.cron == EXPECTED[deployment.name][1]


def test_every_entrypoint_loads_and_accepts_its_parameters(config):
    from prefect.flows import load_flow_from_entrypoint

    for deployment in config.deployments:
        # A module path, not a file path: a worker loads a file with its folder first on
        # sys.path, where flows/training.py and flows/ingest.py would shadow those packages.
        assert ".py" not in deployment.entrypoint
        flow = load_flow_from_entrypoint(deployment.entrypoint)
        assert flow.name == EXPECTED[deployment.name][0]
        flow.validate_parameters(dict(deployment.parameters))
    ingest = next(d for d in config.deployments if d.name == "daily-ingest")
    assert ingest.parameters["source"] == "nba_api"
    # The scheduled retrain applies the worker's NBA_TASK_RUNNER (training_flow alone would not).
    retrain = next(d for d in config.deployments if d.name == "weekly-retrain")
    assert retrain.entrypoint == "flows.training:retrain_flow"


@pytest.mark.usefixtures("prefect_harness")
def test_deploy_all_on_a_test_server(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import get_current_settings

    api_url = str(get_current_settings().api.url)
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"), overwrite=True)
    env = {**os.environ, "PREFECT_API_URL": api_url, "PWD": str(REPO)}
    prefect = Path(sys.executable).with_name("prefect")
    done = subprocess.run(
        [str(prefect), "--no-prompt", "deploy", "--all"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with get_client(sync_client=True) as client:
        deployments = {d.name: d for d in client.read_deployments()}
        flows = {f.id: f.name for f in client.read_flows()}
    assert set(EXPECTED) <= set(deployments)
    for name, (flow_name, cron) in EXPECTED.items():
        deployment = deployments[name]
        assert flows[deployment.flow_id] == flow_name
        assert deployment.work_pool_name == POOL
        assert [s.schedule.cron for s in deployment.schedules] == [cron]
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
        ]
    assert deployments["daily-drift-check"].parameters["retrain"] is True

    # Run one by hand, as the docs show, and let a process worker execute it.
    run = subprocess.run(
        [
            str(prefect),
            "deployment",
            "run",
            "drift-check/daily-drift-check",
            "--param",
            "retrain=false",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    worker = subprocess.run(
        [str(prefect), "worker", "start", "--pool", POOL, "--run-once"],
        cwd=REPO,
        env={**env, "NBA_STATE_DIR": str(tmp_path / "state")},  # no champion: nothing to watch
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
    drift_runs = [r for r in runs if r.deployment_id == deployments["daily-drift-check"].id]
    # A check that could watch no champion fails: the UI must not show a blind check Completed.
    assert [r.state_type.value for r in drift_runs] == ["FAILED"]
