"""deploy/: what can be checked without a Docker engine or a Kubernetes cluster.

The files parse; every ``NBA_*`` variable they name is a real setting; the images, ports and
commands agree with bentofile.yaml, deploy/Dockerfile and prefect.yaml; ``docker compose config``
(or ``docker-compose config``) and ``kubectl kustomize`` accept them when those tools are
installed; the Prefect variants use only job variables of their pool type and really deploy on
a test server. The service's probe routes are checked against real servers in
tests/serving/test_replicas.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
PREFECT_VARIANTS = {
    "docker": DEPLOY / "prefect/docker.yaml",
    "kubernetes": DEPLOY / "prefect/kubernetes.yaml",
}
K8S_JOB_TEMPLATE = DEPLOY / "prefect/kubernetes-job-template.json"
NBA_VAR = re.compile(r"\bNBA_[A-Z0-9_]+\b")
# Values for the variables compose.yaml requires (secrets come from the environment).
COMPOSE_ENV = {
    "NBA_JWT_SECRET": "x" * 40,
    "POSTGRES_PASSWORD": "pg-password",
    "MINIO_ROOT_PASSWORD": "minio-password",
}


def _yaml_docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _k8s_docs() -> list[dict]:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    return [doc for name in [*listed, "secret.example.yaml"] for doc in _yaml_docs(K8S / name)]


def _bentofile() -> dict:
    return yaml.safe_load((REPO / "bentofile.yaml").read_text())


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _setting_names() -> set[str]:
    from core.settings import Settings

    return {f"NBA_{name.upper()}" for name in Settings.model_fields}


def _worker_templates() -> dict[str, dict]:
    """The default base job templates of the docker and kubernetes workers, as bundled with
    Prefect (the same ones prefect-docker and prefect-kubernetes register)."""
    import prefect

    path = (
        Path(prefect.__file__).parent
        / "server/api/collections_data/views/aggregate-worker-metadata.json"
    )
    data = json.loads(path.read_text())
    return {
        "docker": data["prefect-docker"]["docker"]["default_base_job_configuration"],
        "kubernetes": data["prefect-kubernetes"]["kubernetes"]["default_base_job_configuration"],
    }


def test_every_nba_variable_in_deploy_is_a_real_setting():
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"compose.yaml", "Dockerfile", "kustomization.yaml"}
    named = {name: [] for path in files for name in NBA_VAR.findall(path.read_text())}
    for path in files:
        for name in NBA_VAR.findall(path.read_text()):
            named[name].append(path.relative_to(REPO).as_posix())
    unknown = {name: where for name, where in named.items() if name not in _setting_names()}
    assert not unknown, unknown
    assert {"NBA_JWT_SECRET", "NBA_DATABASE_URL", "NBA_REDIS_URL"} <= set(named)


def test_compose_runs_the_bento_image_as_replicas_behind_nginx():
    compose = _compose()
    services = compose["services"]
    assert {
        "postgres",
        "redis",
        "minio",
        "mlflow",
        "prefect-server",
        "prefect-worker",
        "service",
        "nginx",
    } <= set(services)
    service = services["service"]
    assert service["image"].split(":")[0] == _bentofile()["name"]
    assert service["deploy"]["replicas"] >= 2
    assert "ports" not in service  # reached through the load balancer only
    env = service["environment"]
    assert env["NBA_REDIS_URL"].startswith("redis://redis:")
    assert "@postgres:5432/" in env["NBA_DATABASE_URL"]
    assert env["NBA_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["NBA_ENVIRONMENT"] == "production"
    assert env["NBA_JWT_SECRET"].startswith("${NBA_JWT_SECRET:?")  # from the environment only
    assert "127.0.0.1:3000/readyz" in " ".join(service["healthcheck"]["test"])
    # nginx balances over the service name on the port the Bento serves on.
    conf = (DEPLOY / "nginx/nginx.conf").read_text()
    assert re.search(r"server service:3000\b", conf)
    mount = services["nginx"]["volumes"][0].split(":")
    assert (DEPLOY / mount[0]).resolve() == (DEPLOY / "nginx/nginx.conf").resolve()
    # MLflow proxies artifacts to the minio bucket created by minio-init.
    mlflow = " ".join(services["mlflow"]["command"])
    assert "--artifacts-destination s3://mlflow/" in mlflow
    assert "store/mlflow" in " ".join(services["minio-init"]["command"])
    assert services["mlflow"]["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    for name in ("nba", "mlflow", "prefect"):
        assert f"CREATE DATABASE {name};" in (DEPLOY / "postgres/init.sql").read_text()
    # The worker deploys prefect.yaml to the pool it then serves.
    worker = " ".join(services["prefect-worker"]["command"])
    assert "--pool nba-process" in worker
    assert "prefect --no-prompt deploy --all" in worker
    for name, spec in services.items():
        for dependency in spec.get("depends_on", []):
            assert dependency in services, (name, dependency)


def test_compose_config_accepts_the_file():
    docker = shutil.which("docker")
    commands = []
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        commands.append([docker, "compose"])
    if shutil.which("docker-compose"):
        commands.append([shutil.which("docker-compose")])
    if not commands:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    for command in commands:
        done = subprocess.run(
            [*command, "-f", str(COMPOSE), "config", "-q"],
            env={**os.environ, **COMPOSE_ENV},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        # A missing secret is refused, not defaulted.
        missing = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}
        refused = subprocess.run(
            [*command, "-f", str(COMPOSE), "config", "-q"],
            env={**missing, "POSTGRES_PASSWORD": "p", "MINIO_ROOT_PASSWORD": "m"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode != 0
        assert "NBA_JWT_SECRET" in refused.stderr


def test_k8s_service_has_replicas_probes_configmap_and_secret():
    docs = _k8s_docs()
    by_kind_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    deployment = by_kind_name[("Deployment", "nba-predictions")]
    assert deployment["spec"]["replicas"] >= 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].split(":")[0] == _bentofile()["name"]
    assert container["ports"][0]["containerPort"] == 3000
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["envFrom"] == [{"configMapRef": {"name": "nba-settings"}}]
    secret_refs = {
        (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
        if "valueFrom" in e
    }
    assert ("nba-secrets", "NBA_JWT_SECRET") in secret_refs
    example = by_kind_name[("Secret", "nba-secrets")]
    assert {key for _, key in secret_refs} == set(example["stringData"])
    assert not any(example["stringData"].values())  # a shape, no secret committed
    configmap = by_kind_name[("ConfigMap", "nba-settings")]["data"]
    settings = {k for k in configmap if k.startswith("NBA_")}
    assert settings <= _setting_names()
    assert "NBA_JWT_SECRET" not in configmap and "NBA_DATABASE_URL" not in configmap
    service = by_kind_name[("Service", "nba-predictions")]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    # Every Service selects the pods of some Deployment.
    labels = [
        d["spec"]["template"]["metadata"]["labels"] for d in docs if d["kind"] == "Deployment"
    ]
    for doc in docs:
        if doc["kind"] == "Service":
            assert doc["spec"]["selector"] in labels, doc["metadata"]["name"]


def test_kustomize_renders_every_manifest():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    expected = sum(len(_yaml_docs(K8S / name)) for name in listed)
    assert len(rendered) == expected
    images = {
        c["image"]
        for d in rendered
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert {"nba-predictions:latest", "nba-mlops:latest"} <= images
    assert all(
        d["metadata"].get("namespace") == "nba-mlops" for d in rendered if d["kind"] != "Namespace"
    )


def test_platform_dockerfile_copies_every_package():
    import tomllib

    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    text = (DEPLOY / "Dockerfile").read_text()
    for package in packages:
        assert f"COPY {package} {package}" in text, package
    assert "uv sync --frozen --no-dev" in text
    python = _bentofile()["docker"]["python_version"]
    assert f"FROM python:{python}-slim" in text
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert python in requires


def _prefect_model(path: Path):
    from prefect.cli.deploy._models import PrefectYamlModel

    return PrefectYamlModel.model_validate(yaml.safe_load(path.read_text()))


def _signature(deployment) -> tuple:
    return (
        deployment.entrypoint,
        dict(deployment.parameters),
        [(s.cron, s.timezone) for s in deployment.schedules],
    )


@pytest.mark.parametrize("pool_type", sorted(PREFECT_VARIANTS))
def test_prefect_variant_matches_prefect_yaml_and_its_pool_type(pool_type):
    base = {d.name: _signature(d) for d in _prefect_model(REPO / "prefect.yaml").deployments}
    variant = _prefect_model(PREFECT_VARIANTS[pool_type])
    assert {d.name: _signature(d) for d in variant.deployments} == base
    variables = set(_worker_templates()[pool_type]["variables"]["properties"])
    for deployment in variant.deployments:
        assert deployment.work_pool.name == f"nba-{pool_type}"
        job = deployment.work_pool.job_variables
        assert set(job) <= variables, set(job) - variables
        assert job["image"].split(":")[0] == "nba-mlops"
        assert set(NBA_VAR.findall(json.dumps(job))) <= _setting_names()


def test_kubernetes_job_template_is_the_default_plus_the_settings():
    template = json.loads(K8S_JOB_TEMPLATE.read_text())
    default = _worker_templates()["kubernetes"]
    container = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container.pop("envFrom") == [
        {"configMapRef": {"name": "nba-settings"}},
        {"secretRef": {"name": "nba-secrets"}},
    ]
    assert template == default


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_prefect_variants_deploy_on_a_test_server():
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import get_current_settings

    templates = {
        "docker": _worker_templates()["docker"],
        "kubernetes": json.loads(K8S_JOB_TEMPLATE.read_text()),
    }
    with get_client(sync_client=True) as client:
        for pool_type, template in templates.items():
            client.create_work_pool(
                WorkPoolCreate(name=f"nba-{pool_type}", type=pool_type, base_job_template=template),
                overwrite=True,
            )
    env = {
        **os.environ,
        "PREFECT_API_URL": str(get_current_settings().api.url),
        "NBA_DATABASE_URL": "postgresql+psycopg2://nba@db:5432/nba",
    }
    prefect = Path(sys.executable).with_name("prefect")
    deployed = {}
    # One variant at a time: the same deployment names, so a later deploy replaces the earlier.
    for pool_type, path in PREFECT_VARIANTS.items():
        done = subprocess.run(
            [str(prefect), "--no-prompt", "deploy", "--all", "--prefect-file", str(path)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        with get_client(sync_client=True) as client:
            deployed[pool_type] = {
                d.name: d
                for d in client.read_deployments()
                if d.work_pool_name == f"nba-{pool_type}"
            }
    for deployments in deployed.values():
        assert set(deployments) == {"daily-ingest", "daily-drift-check", "weekly-retrain"}
        for deployment in deployments.values():
            assert deployment.pull_steps == [
                {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/nba-mlops"}}
            ]
            assert deployment.job_variables["image"] == "nba-mlops:latest"
    docker, kubernetes = deployed["docker"], deployed["kubernetes"]
    assert (
        docker["daily-ingest"].job_variables["env"]["NBA_DATABASE_URL"] == env["NBA_DATABASE_URL"]
    )
    assert docker["weekly-retrain"].job_variables["mem_limit"] == "4g"
    assert kubernetes["weekly-retrain"].job_variables["memory_limit"] == "4Gi"
    assert kubernetes["weekly-retrain"].job_variables["env"] == {}  # envFrom supplies NBA_*
