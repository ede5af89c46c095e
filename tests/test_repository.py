"""What the repository must never hold: secrets, credentials, environment files, copies of the
shared NBA data, large binaries; the docs must name every setting, and the README's diagram the
flows, tables and packages of the code."""

from __future__ import annotations

import ast
import hashlib
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from core.settings import Settings
from tests.conftest import REPO, snapshot_dir

MAX_BYTES = 1_000_000
DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".feather", ".pkl", ".joblib", ".db", ".sqlite")
SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "Slack token": re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}\b"),
    # A placeholder (`PASSWORD`, `${VAR}`, `$VAR`) in an example URL is not a secret.
    "password in a URL": re.compile(
        r"://[^/\s:@]+:(?!PASSWORD@|\$\{?[A-Z_]+\}?@)[^/\s:@]{3,}@(?!127\.0\.0\.1|localhost)"
    ),
}


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("postgresql://nba:s3cr3t-pw@db.internal:5432/nba", True),
        ("redis://:hunter22@cache:6379/0", False),  # no user: not this pattern's shape
        ("postgresql://nba:PASSWORD@db.internal:5432/nba", False),
        ("postgresql://nba:${DB_PASSWORD}@db:5432/nba", False),
        ("postgresql://postgres:pw12@127.0.0.1:5432/test", False),
    ],
)
def test_the_url_password_pattern(text, flagged):
    assert bool(SECRET_PATTERNS["password in a URL"].search(text)) is flagged


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return [REPO / name for name in out.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def files() -> list[Path]:
    found = tracked_files()
    assert found, "git ls-files found nothing"
    return found


def test_no_environment_or_credential_files(files):
    bad = [
        f
        for f in files
        if f.name == ".env"
        or f.name.startswith(".env.")
        or f.suffix in (".pem", ".key", ".p12")
        or f.name in ("id_rsa", "credentials.json", ".netrc", ".pgpass")
    ]
    assert not bad, f"credential files committed: {bad}"


def test_no_secret_in_tracked_text(files):
    hits = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for label, pattern in SECRET_PATTERNS.items():
            if pattern.search(text) and f.name != Path(__file__).name:
                hits.append(f"{f.relative_to(REPO)}: {label}")
    assert not hits, f"possible secrets committed: {hits}"


def test_no_data_files_or_large_binaries(files):
    data = [f for f in files if f.name.endswith(DATA_SUFFIXES)]
    large = [f for f in files if f.stat().st_size > MAX_BYTES]
    assert not data, f"data files committed: {data}"
    assert not large, f"files over {MAX_BYTES} bytes committed: {large}"


@pytest.mark.snapshot
def test_no_copy_of_the_shared_data(files, data_dir):
    """No tracked file has the same content as a file of the shared snapshot."""
    shared = {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in snapshot_dir().rglob("*")
        if p.is_file() and p.stat().st_size > 256
    }
    copies = [f for f in files if hashlib.sha256(f.read_bytes()).hexdigest() in shared]
    assert not copies, f"copies of the shared data committed: {copies}"


def test_readme_names_every_setting():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [f"NBA_{name.upper()}" for name in Settings.model_fields]
    missing = [env for env in missing if f"`{env}`" not in readme]
    assert not missing, f"settings missing from the README's table: {missing}"


def _architecture_diagram() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (diagram,) = re.findall(r"```mermaid\n(.*?)```", readme, flags=re.DOTALL)
    return diagram.replace("<br/>", " ")


def project_packages() -> list[str]:
    """The project's packages: those coverage measures (pyproject.toml)."""
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["coverage"]["run"]["source"]


def _flow_functions(path: Path) -> list[str]:
    """The functions of a module decorated with Prefect's ``@flow`` (bare or called)."""

    def is_flow(decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return isinstance(target, ast.Name) and target.id == "flow"

    return [
        node.name
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(is_flow(decorator) for decorator in node.decorator_list)
    ]


def test_the_architecture_diagram_names_every_flow_table_and_package():
    """The README's Mermaid diagram matches the code: each Prefect flow, each table of the
    schema and each package appears in it, and each ``name/`` it shows is a folder here."""
    from core.db import Base

    diagram = _architecture_diagram()
    flows = {name for path in (REPO / "flows").glob("*.py") for name in _flow_functions(path)}
    assert len(flows) >= 7
    assert not [name for name in flows if not re.search(rf"\b{name}\b", diagram)]
    tables = set(Base.metadata.tables)
    assert not [name for name in tables if not re.search(rf"\b{name}\b", diagram)]
    assert not [name for name in project_packages() if f"{name}/" not in diagram]
    shown = set(re.findall(r"(?<![\w./])(\w+)/(?![\w/])", diagram))
    assert not [name for name in shown if not (REPO / name).is_dir()]
    assert "prefect.yaml" in diagram and (REPO / "prefect.yaml").is_file()


def test_the_long_modules_run_first_exist():
    """``LONG_MODULES`` orders the suite for pytest-xdist; a renamed module would silently drop
    out of it and could start last."""
    from tests.conftest import LONG_MODULES

    assert len(set(LONG_MODULES)) == len(LONG_MODULES)
    missing = [name for name in LONG_MODULES if not (REPO / name).is_file()]
    assert not missing, f"LONG_MODULES names modules that do not exist: {missing}"


def test_a_library_call_runs_untraced_and_the_tracer_comes_back():
    """``tests/conftest.py`` runs the library calls of ``UNTRACED`` with this thread's coverage
    tracer off: the call sees no trace function, and the tracer (coverage's, or none) is back
    afterwards."""
    import sys

    from tests.conftest import UNTRACED, _untraced, untraced_owner

    def tracer(frame, event, arg):
        return None

    coverage_tracer = sys.gettrace()
    seen = []
    sys.settrace(tracer)
    try:
        assert _untraced(lambda: seen.append(sys.gettrace()) or "done")() == "done"
        assert seen == [None] and sys.gettrace() is tracer
        with pytest.raises(KeyError):  # also when the call fails
            _untraced({}.__getitem__)("missing")
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(coverage_tracer)
    for module, owner, name in UNTRACED:
        wrapped = getattr(untraced_owner(module, owner), name).__wrapped__
        assert wrapped.__module__ == module
        assert wrapped.__qualname__ == (name if owner is None else f"{owner}.{name}")


# What each package of ``project_packages()`` may import of the others (README, "Layout"): flows
# is the composition root, which may import any of them and which nothing imports; features and
# evaluation, below the four siblings, import no other package of the project.
PACKAGE_IMPORTS = {
    "core": set(),
    "ingest": {"core"},
    "features": set(),
    "evaluation": set(),
    "training": {"core", "ingest", "features", "evaluation"},
    "registry": {"core", "ingest", "features"},
    # the Bento holds evaluation/intervals.py alone (bentofile.yaml)
    "serving": {"core", "ingest", "features", "evaluation.intervals", "registry"},
    "monitoring": {"core", "ingest", "features", "evaluation", "registry"},
    "flows": None,  # any
}
IO_LIBRARIES = {"requests", "httpx", "sqlalchemy", "psycopg2", "redis", "mlflow", "prefect"}
IO_LIBRARIES |= {"bentoml", "nba_api", "great_expectations", "evidently", "urllib", "socket"}


def imported_modules(path: Path) -> set[str]:
    """Every absolute import of a module, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from a.b import c`` takes a.b.c, a module or a name of a.b
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_dependencies_point_one_way():
    packages = project_packages()
    broken = []
    for package in packages:
        allowed = PACKAGE_IMPORTS[package]  # a new package must be placed in the map
        if allowed is None:
            allowed = set(packages)
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for module in imported_modules(path):
                top = module.split(".")[0]
                inside = top in packages and top != package
                if inside and not any(module == a or module.startswith(f"{a}.") for a in allowed):
                    broken.append(f"{path.relative_to(REPO)} imports {module}")
                if package in ("features", "evaluation") and top in IO_LIBRARIES:
                    broken.append(f"{path.relative_to(REPO)} imports the I/O library {module}")
    assert not broken, "\n".join(broken)
