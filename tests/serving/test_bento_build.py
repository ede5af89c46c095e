"""``bentoml build`` makes a Bento of the service offline (bentofile.yaml at the repo top)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _uv_dir() -> str | None:
    """BentoML calls ``uv`` while building; ``make install`` puts it in .cache/tools/bin."""
    found = shutil.which("uv")
    if found:
        return str(Path(found).parent)
    local = REPO / ".cache/tools/bin/uv"
    return str(local.parent) if local.exists() else None


# What a model pickled by training needs to load and to predict the same way.
MODEL_RUNTIME = ("scikit-learn", "scipy", "numpy", "pandas", "cloudpickle", "mlflow")


def test_the_image_pins_the_training_versions_of_what_models_unpickle_with():
    bento = yaml.safe_load((REPO / "bentofile.yaml").read_text())
    pins = dict(spec.split("==", 1) for spec in bento["python"]["packages"] if "==" in spec)
    locked = {
        p["name"]: p["version"] for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]
    }
    assert set(MODEL_RUNTIME) <= set(pins), set(MODEL_RUNTIME) - set(pins)
    assert pins == {name: locked[name] for name in pins}


@pytest.mark.slow
def test_bentoml_build_works_offline(tmp_path):
    uv_dir = _uv_dir()
    if uv_dir is None:
        pytest.skip("uv is not installed (make install provides .cache/tools/bin/uv)")
    dead = "http://127.0.0.1:9"  # any download attempt fails at once
    env = {
        **os.environ,
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "PATH": f"{uv_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HTTP_PROXY": dead,
        "HTTPS_PROXY": dead,
        "UV_OFFLINE": "1",
        "PIP_NO_INDEX": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", str(REPO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (bento,) = [
        p for p in (tmp_path / "bentoml/bentos/nba-predictions").iterdir() if p.name != "latest"
    ]
    src = bento / "src"
    for path in (
        "serving/service.py",
        "serving/state.py",
        "features/game.py",
        "registry/versions.py",
        "core/migrations/versions/0002_serving_and_monitoring.py",
        "ingest/storage.py",
        "evaluation/intervals.py",
    ):
        assert (src / path).is_file(), path
    assert not (src / "tests").exists()
    assert not (src / "training").exists()
    assert not (src / "evaluation/metrics.py").exists()
    requirements = (bento / "env/python/requirements.txt").read_text()
    for package in ("limits", "pyjwt", "bcrypt", "redis", "mlflow", "scikit-learn"):
        assert package in requirements, package
    openapi = (bento / "apis/openapi.yaml").read_text()
    for route in ("/api/predict/simple", "/api/predict/player", "/api/predict/batch"):
        assert route in openapi, route
