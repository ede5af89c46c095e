"""The Prometheus alert rules (deploy/prometheus): valid, unit-tested, and built only on metrics
the service really exports.

promtool (Debian's ``prometheus`` package) checks the rules and the example configuration and
runs ``alerts_test.yml`` (each alert fires in one case and stays quiet in another). The metric
names of every rule expression are compared with the ``/api/metrics`` output of the real service,
started in-process, so a renamed metric breaks this test rather than silently muting an alert.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import BCRYPT_TEST_COST
from tests.serving.conftest import (
    JWT_SECRET,
    USER,
    USER_PASSWORD,
    login,
    pg_database,
    running_service,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = DEPLOY / "alerts.yml"
RULE_TESTS = DEPLOY / "alerts_test.yml"
# The alerts that watch days, evaluated every 5 minutes (every 15 s, 3 days take promtool 20 s).
DAILY_RULE_TESTS = DEPLOY / "alerts_test_daily.yml"
CONFIG = DEPLOY / "prometheus.yml"
# Written by Prometheus itself for every scrape target, not by the service.
PROMETHEUS_SERIES = {"up"}
KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
}
SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing on CI (apt-get install -y prometheus)")
        pytest.skip("promtool is not installed (apt-get install -y prometheus)")
    return path


def run_promtool(*args: str, cwd: Path = DEPLOY) -> subprocess.CompletedProcess:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )


def rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords or labels)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery windows
    text = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )  # grouping labels
    names = set()
    for match in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if not call and name.lower() not in KEYWORDS:
            names.add(name)
    return names


def exported_names(exposition: str) -> set[str]:
    """Every series name the exposition declares (``# TYPE``, with a histogram's suffixes) or
    has a sample of."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names.add(name)
            names.update(name + s for s in SUFFIXES.get(kind, ()))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            'sum by (job, le) (rate(x_bucket{endpoint!~"/api/health|a(b)"}[1m])) / on (job) y > 1',
            {"x_bucket", "y"},
        ),
        ('up{job="nba-api"} == 0 or increase(c_total[10m]) > 0', {"up", "c_total"}),
        ("a >= b and a > 1e3", {"a", "b"}),
    ],
)
def test_metric_names_of_an_expression(expr, expected):
    assert metric_names(expr) == expected


def test_rules_are_valid():
    result = run_promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_rule_unit_tests_pass():
    result = run_promtool("test", "rules", str(RULE_TESTS), str(DAILY_RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 2, result.stdout


@pytest.mark.parametrize(
    ("right", "wrong", "tests", "alert"),
    [
        (") > 0.05", ") > 0.01", RULE_TESTS, "NbaApiHighErrorRate"),  # 5% turned into 1%
        ("> 3 * 86400", "> 4 * 86400", DAILY_RULE_TESTS, "NbaStoreStale"),  # 3 days into 4
    ],
)
def test_a_broken_rule_fails_the_unit_tests(tmp_path, right, wrong, tests, alert):
    """The unit tests notice a wrong threshold."""
    text = RULES.read_text()
    assert right in text
    (tmp_path / "alerts.yml").write_text(text.replace(right, wrong))
    shutil.copy(tests, tmp_path / tests.name)
    result = run_promtool("test", "rules", tests.name, cwd=tmp_path)
    assert result.returncode != 0
    assert alert in result.stdout + result.stderr


def test_every_alert_has_a_case_that_fires_and_one_that_does_not():
    cases: dict[str, set[str]] = {}
    tests = [
        t for f in (RULE_TESTS, DAILY_RULE_TESTS) for t in yaml.safe_load(f.read_text())["tests"]
    ]
    for test in tests:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], set()).add(
                "fires" if case.get("exp_alerts") else "quiet"
            )
    alerts = {rule["alert"] for rule in rules()}
    assert {name: cases.get(name, set()) for name in alerts} == {
        name: {"fires", "quiet"} for name in alerts
    }


def test_the_design_triggers_are_covered():
    by_name = {rule["alert"]: rule for rule in rules()}
    assert by_name["NbaApiHighErrorRate"]["for"] == "2m"
    assert "> 0.05" in by_name["NbaApiHighErrorRate"]["expr"]
    assert by_name["NbaApiSlow"]["for"] == "5m"
    assert "histogram_quantile(0.95" in by_name["NbaApiSlow"]["expr"]
    assert by_name["NbaApiDown"]["for"] == by_name["NbaApiNotReady"]["for"] == "1m"
    for name in ("NbaDatabasePoolExhausted", "NbaRedisDown", "NbaModelLoadFailed"):
        assert name in by_name


def test_example_config_is_valid(tmp_path):
    """promtool checks the scrape configuration with its rules (the token file it names must
    exist: a placeholder here)."""
    token = tmp_path / "nba-api.token"
    token.write_text("placeholder\n")
    text = CONFIG.read_text()
    assert "credentials_file: /etc/prometheus/nba-api.token" in text
    (tmp_path / "prometheus.yml").write_text(
        text.replace("/etc/prometheus/nba-api.token", str(token))
    )
    shutil.copy(RULES, tmp_path / "alerts.yml")
    result = run_promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(text)
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "nba-api")
    assert job["metrics_path"] == "/api/metrics"


@pytest.fixture(scope="module")
def exposition(tmp_path_factory) -> str:
    """``/api/metrics`` of the real service (in-process) on an empty store, after a few
    requests."""
    from serving.auth import add_user

    root = tmp_path_factory.mktemp("alert-rules")
    with pg_database("nba_alerts") as url:
        from core.db import make_engine
        from core.migrate import upgrade

        engine = make_engine(url)
        upgrade(engine)
        add_user(engine, USER, USER_PASSWORD, "user", cost=BCRYPT_TEST_COST)
        engine.dispose()
        env = {
            "NBA_STATE_DIR": str(root / "state"),
            "NBA_DATABASE_URL": url,
            "NBA_MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "NBA_JWT_SECRET": JWT_SECRET,
            "NBA_CHAMPION_POLL_SECONDS": "3600",
            "NBA_LOG_LEVEL": "WARNING",
        }
        with running_service(env) as client:
            headers = login(client)
            client.get("/api/health")
            client.post("/api/predict/simple", json={"home_team": "BOS"}, headers=headers)
            response = client.get("/api/metrics", headers=headers)
    assert response.status_code == 200
    return response.text


@pytest.mark.postgres
def test_every_metric_of_the_rules_is_exported_by_the_service(exposition):
    exported = exported_names(exposition)
    used = {name for rule in rules() for name in metric_names(rule["expr"])}
    assert used - PROMETHEUS_SERIES, "no service metric found in the rules"
    assert sorted(used - PROMETHEUS_SERIES - exported) == []


@pytest.mark.postgres
def test_rule_labels_exist_on_the_exported_series(exposition):
    """Label names the rules match on (``status``, ``endpoint``, ``backend``) are on the
    service's series."""
    labels_of: dict[str, set[str]] = {}
    for line in exposition.splitlines():
        match = re.match(r"^([A-Za-z_:][\w:]*)\{([^}]*)\}", line)
        if match:
            keys = set(re.findall(r'(\w+)="', match.group(2)))
            labels_of.setdefault(match.group(1), set()).update(keys)
    for rule in rules():
        for name, matchers in re.findall(r"([A-Za-z_:][\w:]*)\{([^}]*)\}", rule["expr"]):
            if name in PROMETHEUS_SERIES:
                continue
            wanted = set(re.findall(r"(\w+)\s*[!=]~?", matchers))
            assert wanted <= labels_of.get(name, set()), (rule["alert"], name, wanted)
