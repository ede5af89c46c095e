"""The GET / DELETE routes and the login, as a FastAPI app mounted at ``/api`` on the service.

Handlers are plain functions (FastAPI runs them in its thread pool: bcrypt, MLflow and SQL calls
never block the event loop) that reach the runtime through ``bentoml.get_current_service()``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from core.settings import GAME_MODEL_NAMES, POINTS_MODEL_NAMES
from registry.client import RegistryUnavailable
from serving.logs import REQUEST_ID, USERNAME
from serving.middleware import client_ip, current_runtime, unknown_query, validation_body
from serving.runtime import Runtime
from serving.schemas import LoginRequest, Token


def _query_names(route: APIRoute) -> set[str]:
    """The query parameters ``route`` takes, its dependencies' included."""
    names: set[str] = set()
    todo = [route.dependant]
    while todo:
        dependant = todo.pop()
        names.update(field.alias for field in dependant.query_params)
        todo.extend(dependant.dependencies)
    return names


def known_query(request: Request) -> None:
    """A query parameter the route does not take is a 400 naming it and the ones it takes: a
    misspelt filter (``/drift?modle=...``) would otherwise answer every row, unfiltered."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    takes = _query_names(route)
    unknown = sorted(set(request.query_params) - takes)
    if unknown:
        raise RequestValidationError(unknown_query(unknown, takes))


app = FastAPI(
    title="nba-mlops API routes",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
    dependencies=[Depends(known_query)],
)

ModelNamePath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$", description="Model name")
]
VersionPath = Annotated[str, Path(pattern=r"^[1-9][0-9]{0,8}$", description="Version number")]
MODEL_NAMES = GAME_MODEL_NAMES + POINTS_MODEL_NAMES


def known_model(name: ModelNamePath) -> str:
    """The path's model name when it is one of the six; a 400 naming it otherwise (a 404 is
    kept for a version the registry does not hold)."""
    if name not in MODEL_NAMES:
        message = f"unknown model {name!r} (known: {', '.join(MODEL_NAMES)})"
        raise RequestValidationError(
            [{"loc": ("path", "name"), "msg": message, "type": "value_error"}]
        )
    return name


KnownModel = Annotated[str, Depends(known_model)]


def error(status: int, message: str, loc: list[Any] | None = None, headers=None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if loc is not None:
        body["detail"] = [{"loc": loc, "msg": message, "type": "value_error"}]
    return JSONResponse(body, status_code=status, headers=headers)


@app.exception_handler(RequestValidationError)
async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(validation_body(exc.errors()), status_code=400)


@app.exception_handler(SQLAlchemyError)
async def _database_down(_: Request, exc: SQLAlchemyError) -> JSONResponse:
    return JSONResponse(
        {"error": f"database unavailable: {type(exc).__name__}"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


@app.exception_handler(RegistryUnavailable)
async def _registry_down(_: Request, exc: RegistryUnavailable) -> JSONResponse:
    return JSONResponse(
        {"error": "model registry unavailable: the models served are listed in /api/health"},
        status_code=503,
        headers={"Retry-After": "30"},
    )


def runtime() -> Runtime:
    rt = current_runtime()
    if rt is None:  # pragma: no cover - the middleware answers 503 before this
        raise RuntimeError("service not started")
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def _is_admin(request: Request) -> bool:
    principal = request.scope.get("state", {}).get("principal")
    return principal is not None and principal.role == "admin"


# Login -------------------------------------------------------------------------------------------
@app.post(
    "/auth/login",
    response_model=Token,
    tags=["auth"],
    summary="Get a bearer token",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": LoginRequest.model_json_schema()},
                "application/x-www-form-urlencoded": {"schema": LoginRequest.model_json_schema()},
            },
        }
    },
)
async def login(request: Request, rt: RuntimeDep) -> Any:
    """JSON ``{"username", "password"}`` or an OAuth2 password form. Failed attempts are limited
    per client IP (``NBA_LOGIN_RATE_LIMIT``)."""
    import anyio.to_thread

    client = client_ip(request.scope)
    allowed = await rt.limits.login_allowed(client)
    if not allowed.allowed:
        rt.metrics.rate_limited.labels(limit="login").inc()
        # The account being tried is recorded (the password is never checked while throttled).
        try:
            tried: str | None = (await _credentials(request)).username
        except ValidationError:
            tried = None
        rt.audit(
            "login",
            target=tried,
            username=tried,
            success=False,
            client_ip=client,
            details={"error": "throttled"},
        )
        return error(
            429,
            f"too many failed logins; retry in {allowed.retry_after} s",
            headers={"Retry-After": str(allowed.retry_after)},
        )
    try:
        creds = await _credentials(request)
    except ValidationError as exc:  # the body's values are never echoed
        return JSONResponse(validation_body(exc.errors(include_input=False)), status_code=400)
    from serving.auth import authenticate

    check = partial(authenticate, cost=rt.settings.bcrypt_cost)
    user = await anyio.to_thread.run_sync(check, rt.engine(), creds.username, creds.password)
    if user is None:
        await rt.limits.login_failed(client)
        rt.metrics.auth_failures.labels(reason="credentials").inc()
        rt.audit(
            "login", target=creds.username, username=creds.username, success=False, client_ip=client
        )
        return error(
            401,
            "wrong user name or password, or the user is disabled",
            headers={"WWW-Authenticate": 'Bearer realm="nba-mlops"'},
        )
    token, expires_in = rt.tokens.issue(user.username, user.role)
    rt.note_login(user.username)
    USERNAME.set(user.username)
    rt.audit("login", target=user.username, username=user.username, client_ip=client)
    return Token(access_token=token, expires_in=expires_in)


async def _credentials(request: Request) -> LoginRequest:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        return LoginRequest.model_validate(
            {"username": form.get("username"), "password": form.get("password")}
        )
    body = await request.body()
    return LoginRequest.model_validate_json(body or b"{}")


# Health and metrics ------------------------------------------------------------------------------
# HEAD too: a load balancer's health check often asks for the status line only.
@app.head("/health", include_in_schema=False)
@app.get("/health", tags=["service"], summary="Liveness and readiness")
def health(request: Request, rt: RuntimeDep) -> Any:
    """200 when ready (store loaded, a game model answering), 503 otherwise, with every check
    (database, cache, registry, data, each model's versions). ``checks.data`` gives the newest
    stored game's date, its age in days (UTC) and ``stale`` (older than
    ``NBA_STALE_INGEST_DAYS``): information only, a stale store is still ready. The error texts
    saying why are given to callers with a valid token of an active user only."""
    from serving.auth import AuthError

    try:
        principal = rt.tokens.verify(request.headers.get("authorization"))
        detailed = rt.user_active(principal.username)
    except AuthError:
        detailed = False
    doc = rt.health(detailed)
    return JSONResponse(doc, status_code=200 if doc["ready"] else 503)


@app.get(
    "/metrics",
    tags=["service"],
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(rt: RuntimeDep) -> Response:
    return Response(rt.metrics.render(), media_type=rt.metrics.content_type)


# Models ------------------------------------------------------------------------------------------
@app.get("/models", tags=["models"], summary="Registered models, versions and what is served")
def models(rt: RuntimeDep) -> Any:
    from registry import list_registered

    status = rt.models.status()
    registered = list_registered(rt.settings.resolved_mlflow_tracking_uri)
    for model in registered:
        model["serving"] = status.get(model["name"], {}).get("serving")
        model["loaded_versions"] = status.get(model["name"], {}).get("loaded", [])
        if "error" in status.get(model["name"], {}):
            model["error"] = status[model["name"]]["error"]
    return {"models": registered}


@app.get(
    "/models/{name}/{version}", tags=["models"], summary="One version: metrics, aliases, dates"
)
def model_version(name: KnownModel, version: VersionPath, rt: RuntimeDep) -> Any:
    from registry import RegistryError, get_version

    try:
        info = get_version(rt.settings.resolved_mlflow_tracking_uri, name, version)
    except RegistryError as exc:
        return error(404, str(exc), ["path", "version"])
    slot = rt.models.slots.get(name)
    return {
        "name": info.name,
        "version": info.version,
        "aliases": sorted(info.aliases),
        "task": info.task,
        "eval_season": info.eval_season,
        "train_seasons": info.train_seasons,
        "metrics": info.summary_metrics(),
        "metrics_by_season": {k: v for k, v in info.metrics.items() if "." in k},
        "features": info.feature_names,
        "trained_at": info.created_at.isoformat() if info.created_at else None,
        "run_id": info.run_id,
        "description": info.description,
        "gate_decision": info.tags.get("gate_decision"),
        "loaded": slot is not None and info.version in slot.loaded,
        "serving": slot is not None
        and slot.serving is not None
        and slot.serving.version == info.version,
    }


@app.post("/models/{name}/{version}/load", tags=["models"], summary="Load a version (admin)")
def load_model(name: KnownModel, version: VersionPath, request: Request, rt: RuntimeDep) -> Any:
    """Load a version beside the others; it answers for its name at once if it is the champion,
    otherwise requests reach it with ``model_version``."""
    from serving.models import ModelError

    if not _is_admin(request):
        _audit_model(rt, request, "model_load", name, version, False, "not an admin")
        return error(403, "loading models needs the admin role")
    try:
        loaded = rt.models.load(name, version)
    except ModelError as exc:
        _audit_model(rt, request, "model_load", name, version, False, str(exc))
        return error(exc.status, str(exc), ["path", "version"])
    except Exception as exc:
        message = f"{name} v{version} could not be loaded: {type(exc).__name__}: {exc}"
        _audit_model(rt, request, "model_load", name, version, False, message)
        return error(422, message, ["path", "version"])
    rt._publish_models()
    _audit_model(rt, request, "model_load", name, version, True, None)
    slot = rt.models.slots[name]
    return {
        "name": name,
        "version": loaded.version,
        "loaded": True,
        "serving": slot.serving is not None and slot.serving.version == loaded.version,
        "loaded_versions": sorted(slot.loaded, key=int),
        "fast_path": loaded.predictor.fast,
    }


@app.delete("/models/{name}/{version}/unload", tags=["models"], summary="Unload a version (admin)")
def unload_model(name: KnownModel, version: VersionPath, request: Request, rt: RuntimeDep) -> Any:
    from serving.models import ModelError

    if not _is_admin(request):
        _audit_model(rt, request, "model_unload", name, version, False, "not an admin")
        return error(403, "unloading models needs the admin role")
    try:
        rt.models.unload(name, version)
    except ModelError as exc:
        _audit_model(rt, request, "model_unload", name, version, False, str(exc))
        return error(exc.status, str(exc), ["path", "version"])
    rt._publish_models()
    _audit_model(rt, request, "model_unload", name, version, True, None)
    return {"name": name, "version": version, "unloaded": True}


def _audit_model(rt, request, action, name, version, success, message) -> None:
    rt.audit(
        action,
        target=f"{name}:v{version}",
        username=USERNAME.get(),
        success=success,
        client_ip=client_ip(request.scope),
        details={"error": message} if message else None,
        request_id=REQUEST_ID.get(),
    )


# Drift reports (written by the monitoring package) -----------------------------------------------
def _report_file(path: str | None, reports_dir: FilePath) -> str | None:
    """A report's file as shown to clients: relative to the reports folder, never an absolute
    server path (a file elsewhere shows its name only). Paths are stored relative to the
    reports folder; an absolute one comes from a row written before they were."""
    if not path:
        return None
    file = FilePath(path)
    if not file.is_absolute():
        return file.as_posix()
    try:
        return file.resolve().relative_to(reports_dir.resolve()).as_posix()
    except ValueError:
        return file.name


def utc_text(moment: datetime | None) -> str | None:
    """``moment`` in ISO 8601 with its UTC offset. SQLite gives back the stored UTC times
    without their zone; PostgreSQL with it."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _drift_row(row, reports_dir: FilePath) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": utc_text(row.created_at),
        "kind": row.kind,
        "model_name": row.model_name,
        "model_version": row.model_version,
        "reference_window": row.reference_window,
        "current_window": row.current_window,
        "share_drifted": row.share_drifted,
        "drift_detected": row.drift_detected,
        "failed_tests": row.failed_tests,
        "html_path": _report_file(row.html_path, reports_dir),
        "json_path": _report_file(row.json_path, reports_dir),
        "summary": row.summary,
    }


# The report kinds of ``monitoring.reports.KINDS`` (the Bento holds no ``monitoring/``).
DriftKind = Literal["features", "predictions", "performance"]
KindQuery = Annotated[DriftKind | None, Query(description="One of the report kinds.")]
ModelQuery = Annotated[Literal[MODEL_NAMES] | None, Query(description="One of the six models.")]


def _newest_first() -> tuple:
    """The order of ``GET /drift``: the newest report first (the last written on a tie)."""
    from core.db import DriftReport

    return DriftReport.created_at.desc(), DriftReport.id.desc()


def _filter_reports(stmt, kind: str | None, model: str | None):
    """``stmt`` kept to the reports of ``kind`` and of ``model``, when given."""
    from core.db import DriftReport

    if kind:
        stmt = stmt.where(DriftReport.kind == kind)
    if model:
        stmt = stmt.where(DriftReport.model_name == model)
    return stmt


@app.get("/drift", tags=["monitoring"], summary="Drift report summaries, newest first")
def drift(
    rt: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    kind: KindQuery = None,
    model: ModelQuery = None,
) -> Any:
    from sqlalchemy import select

    from core.db import DriftReport

    stmt = _filter_reports(select(DriftReport), kind, model)
    stmt = stmt.order_by(*_newest_first()).limit(limit)
    with rt.engine().connect() as conn:
        rows = conn.execute(stmt).all()
    reports = rt.settings.reports_dir
    return {"reports": [_drift_row(r, reports) for r in rows], "count": len(rows)}


@app.get(
    "/drift/latest",
    tags=["monitoring"],
    summary="The newest drift report of each kind, overall and for each model",
)
def drift_latest(rt: RuntimeDep, kind: KindQuery = None, model: ModelQuery = None) -> Any:
    """``by_model``: each model's newest report of each kind (a check of one task leaves the
    other task's models listed); ``by_kind``: the newest of each kind whatever the model;
    ``latest``: the newest of all. ``kind`` and ``model`` filter as in ``GET /drift``."""
    from sqlalchemy import func, select

    from core.db import DriftReport

    rank = func.row_number().over(
        partition_by=(DriftReport.model_name, DriftReport.kind), order_by=_newest_first()
    )
    ranked = _filter_reports(select(DriftReport.id, rank.label("rank")), kind, model).subquery()
    stmt = (
        select(DriftReport)
        .join(ranked, (DriftReport.id == ranked.c.id) & (ranked.c.rank == 1))
        .order_by(*_newest_first())
    )
    with rt.engine().connect() as conn:
        rows = [_drift_row(r, rt.settings.reports_dir) for r in conn.execute(stmt).all()]
    by_kind: dict[str, Any] = {}
    by_model: dict[str | None, dict[str, Any]] = {}
    for row in rows:  # newest first: the first of a kind is its newest
        by_kind.setdefault(row["kind"], row)
        by_model.setdefault(row["model_name"], {})[row["kind"]] = row
    return {"latest": rows[0] if rows else None, "by_kind": by_kind, "by_model": by_model}


@app.get(
    "/drift/{report_id}/html",
    tags=["monitoring"],
    summary="A drift report's HTML page (Evidently's, self-contained), as a download",
)
def drift_html(
    report_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="The report's id")],
    rt: RuntimeDep,
) -> Any:
    """Read-only: only a file inside the reports folder (``<state_dir>/reports``) is sent."""
    from fastapi.responses import FileResponse
    from sqlalchemy import select

    from core.db import DriftReport
    from serving.ui import REPORT_SECURITY_HEADERS, report_file

    with rt.engine().connect() as conn:
        row = conn.execute(
            select(DriftReport.html_path).where(DriftReport.id == report_id)
        ).one_or_none()
    if row is None:
        message = f"no drift report has the id {report_id} (GET /api/drift lists them)"
        return error(404, message, ["path", "report_id"])
    path = report_file(rt.settings.reports_dir, row.html_path) if row.html_path else None
    if path is None:
        return error(404, f"drift report {report_id} has no HTML file", ["path", "report_id"])
    return FileResponse(
        path,
        media_type="text/html; charset=utf-8",
        filename=path.name,
        headers=REPORT_SECURITY_HEADERS,
    )


# Teams and players (the names the prediction routes take) ----------------------------------------
SearchQuery = Annotated[
    str,
    Query(max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$", description="Part of the player's name"),
]


def _store(rt: Runtime):
    if rt.data is None:
        message = f"the game store is not loaded yet ({rt.data_error})"
        return None, error(503, message, headers={"Retry-After": "30"})
    return rt.data, None


@app.get("/teams", tags=["reference"], summary="The teams the prediction routes know")
def teams(rt: RuntimeDep) -> Any:
    data, failed = _store(rt)
    if failed:
        return failed
    rows = [
        {"team_id": t.team_id, "abbreviation": t.abbreviation, "name": t.name}
        for t in sorted(data.teams.values(), key=lambda t: t.abbreviation)
    ]
    return {"teams": rows, "count": len(rows)}


@app.get("/players", tags=["reference"], summary="Stored players whose name contains a text")
def players(
    rt: RuntimeDep,
    search: SearchQuery = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    """Names containing ``search`` (any case, accents or not); those starting with it first,
    then the most recently seen. Each carries the team of his last stored game."""
    data, failed = _store(rt)
    if failed:
        return failed
    found = match_players(data.state.players.values(), search)
    rows = [
        {
            "player_id": p.player_id,
            "name": p.name,
            "team": data.teams[p.team_id].abbreviation if p.team_id in data.teams else None,
            "last_game_date": p.last_date.date().isoformat(),
        }
        for p in found[:limit]
    ]
    return {"players": rows, "count": len(rows), "matches": len(found)}


def match_players(histories, search: str) -> list:
    """The histories whose name contains ``search`` (any case, accents or not), best first."""
    from serving.store import name_key

    needle = name_key(search)
    keyed = [(name_key(p.name), p) for p in histories]
    hits = [(key, p) for key, p in keyed if needle in key]
    hits.sort(key=lambda hit: (hit[1].last_date, -hit[1].player_id), reverse=True)
    hits.sort(key=lambda hit: not hit[0].startswith(needle))
    return [p for _, p in hits]
