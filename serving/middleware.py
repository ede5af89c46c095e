"""Pure ASGI middleware around every route (BentoML's, the mounted FastAPI app's).

Added in this order (the first is the outermost):

1. ``RequestContextMiddleware``: the request ID (``X-Request-ID`` in, or a new one; echoed out),
   one JSON access-log line, latency and error metrics.
2. ``CorsMiddleware``: Starlette's CORS, limited to ``settings.cors_origins``.
3. ``GuardMiddleware``: on ``/api`` routes, the per-IP rate limit (429 + ``Retry-After``), the
   bearer token (401 + ``WWW-Authenticate``) except on the public routes, and the body size
   (413 past ``MAX_BODY_BYTES``, before the route reads it).

The runtime is the current BentoML service instance's (``bentoml.get_current_service()``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from serving.auth import AuthError
from serving.logs import REQUEST_ID, USERNAME

if TYPE_CHECKING:
    from serving.runtime import Runtime

log = logging.getLogger("serving.access")

LOGIN_PATH = "/api/auth/login"
PUBLIC_PATHS = frozenset({"/api/health", LOGIN_PATH})
# The media types each POST route reads; another gets a 415 naming them. The prediction routes
# read JSON only (BentoML would try other media types and fail with a 500); the login also
# reads an OAuth2 password form. A body without a Content-Type is read as JSON.
JSON = ("application/json",)
BODY_MEDIA_TYPES = {
    "/api/predict": JSON,
    "/api/predict/simple": JSON,
    "/api/predict/player": JSON,
    "/api/predict/compare": JSON,
    "/api/predict/batch": JSON,
    LOGIN_PATH: (*JSON, "application/x-www-form-urlencoded", "multipart/form-data"),
}
UNLIMITED_PATHS = frozenset({"/api/health"})
# The largest request body read (a full batch of 100 games is ~10 KB).
MAX_BODY_BYTES = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_ENDPOINTS = (
    "/api/predict/simple",
    "/api/predict/player",
    "/api/predict/compare",
    "/api/predict/batch",
    "/api/predict",
    "/api/models",
    "/api/health",
    "/api/metrics",
    "/api/auth/login",
    "/api/drift/latest",
    "/api/drift",
    "/api/teams",
    "/api/players",
)
_PREFIXED = ("/api/models", "/api/drift")


def _one_of(names: tuple[str, ...]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def current_runtime() -> Runtime | None:
    import bentoml

    try:
        service = bentoml.get_current_service()
    except Exception:  # not started yet
        return None
    return getattr(service, "runtime", None)


def endpoint_label(path: str) -> str:
    """A bounded metric label for a path (``/api/models/x/3`` -> ``/api/models``)."""
    for prefix in _ENDPOINTS:
        if path == prefix or (prefix in _PREFIXED and path.startswith(prefix + "/")):
            return prefix
    return "other"


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def client_ip(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


async def send_json(send, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    raw = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    head += [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": raw})


async def _too_large(send) -> None:
    message = f"request body too large: at most {MAX_BODY_BYTES} bytes"
    await send_json(
        send,
        413,
        {"error": message, "detail": [{"loc": ["body"], "msg": message, "type": "too_large"}]},
        {},
    )


async def _read_bounded(receive) -> list[dict[str, Any]] | None:
    """The request's body messages, or None once they pass ``MAX_BODY_BYTES``."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        size += len(message.get("body", b""))
        if size > MAX_BODY_BYTES:
            return None
        if not message.get("more_body", False):
            return messages


def validation_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The API's 400 body for pydantic errors: ``{"error": "N validation error(s): loc: msg",
    "detail": [{"loc", "msg", "type"}]}`` (no documentation links, no echoed input)."""
    detail = [
        {"loc": list(e.get("loc") or ()), "msg": e.get("msg"), "type": e.get("type")}
        for e in errors
    ]
    where = ", ".join(
        f"{'.'.join(str(p) for p in d['loc'])}: {d['msg']}" if d["loc"] else str(d["msg"])
        for d in detail
    )
    return {"error": f"{len(detail)} validation error(s): {where}", "detail": detail}


# The title of a pydantic ValidationError, as BentoML puts it in the "error" of its 400s.
_PYDANTIC_TITLE = re.compile(r"^\d+ validation errors? for \w+$")


# The router's own answers, in the same words whichever app (BentoML's or FastAPI's) routed.
ROUTER_ERRORS = {
    404: ("Not Found", "no such route; see /docs.json"),
    405: ("Method Not Allowed", "method not allowed on this route; see /docs.json"),
}


def _api_error(body: Any, status: int) -> dict[str, Any] | None:
    """``body`` in the API's error shape, or None when it already has it."""
    if not isinstance(body, dict):
        return None
    detail = body.get("detail")
    if "error" not in body and isinstance(detail, str):  # FastAPI's {"detail": "..."}
        router, text = ROUTER_ERRORS.get(status, (None, None))
        return {"error": text if detail == router else detail}
    if isinstance(detail, list) and _PYDANTIC_TITLE.match(str(body.get("error", ""))):
        return validation_body([d for d in detail if isinstance(d, dict)])
    return None


def _api_errors(send):
    """``send`` with every 4xx in the API's JSON error shape: the router's plain-text 404 / 405
    (an ``/api`` path no route matches), FastAPI's ``{"detail": "..."}`` and BentoML's
    validation errors."""
    replaced: dict[str, Any] = {}
    held: dict[str, Any] = {}

    async def wrapped(message) -> None:
        if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
            headers = dict(message.get("headers", []))
            media = headers.get(b"content-type", b"")
            if message["status"] in (404, 405) and media.startswith(b"text/plain"):
                replaced["status"] = message["status"]
                replaced["allow"] = headers.get(b"allow", b"").decode("latin-1")
                return
            if media.startswith(b"application/json"):
                held["start"], held["body"] = message, b""
                return
        if "status" in replaced:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                found = replaced["status"] == 404
                text = ROUTER_ERRORS[replaced["status"]][1]
                extra = {} if found or not replaced["allow"] else {"Allow": replaced["allow"]}
                await send_json(send, replaced["status"], {"error": text}, extra)
            return
        if "start" in held and message["type"] == "http.response.body":
            held["body"] += message.get("body", b"")
            if message.get("more_body"):
                return
            start, raw = held.pop("start"), held.pop("body")
            try:
                body = _api_error(json.loads(raw), start["status"])
            except ValueError:
                body = None
            if body is not None:
                raw = json.dumps(body).encode()
                headers = [h for h in start.get("headers", []) if h[0].lower() != b"content-length"]
                start = {
                    **start,
                    "headers": [*headers, (b"content-length", str(len(raw)).encode())],
                }
            await send(start)
            await send({"type": "http.response.body", "body": raw})
            return
        await send(message)

    return wrapped


def _replay(messages: list[dict[str, Any]], receive):
    pending = list(messages)

    async def replayed() -> dict[str, Any]:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _openapi_document(scope, receive, send) -> None:
    """``/docs.json``: BentoML's OpenAPI document with authentication and the bodies' own
    schemas (``serving.openapi``)."""
    from serving.openapi import served_document

    await send_json(send, 200, served_document(), {})


class RequestContextMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope.get("path") == "/docs.json" and scope.get("method") in ("GET", "HEAD")
        app = _openapi_document if docs else self.app
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        id_token = REQUEST_ID.set(request_id)
        user_token = USERNAME.set(None)
        status = {"code": 500}
        started = time.perf_counter()

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            self._observe(scope, status["code"], time.perf_counter() - started)
            USERNAME.reset(user_token)
            REQUEST_ID.reset(id_token)

    @staticmethod
    def _observe(scope, status: int, seconds: float) -> None:
        path = scope.get("path", "")
        runtime = current_runtime()
        if runtime is not None and path.startswith("/api"):
            label = endpoint_label(path)
            runtime.metrics.latency.labels(endpoint=label, status=f"{status // 100}xx").observe(
                seconds
            )
            if status >= 400:
                runtime.metrics.errors.labels(endpoint=label, status=str(status)).inc()
        level = logging.ERROR if status >= 500 else logging.INFO
        if log.isEnabledFor(level):
            log.log(
                level,
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": path,
                    "status": status,
                    "latency_ms": round(seconds * 1000, 3),
                    "client": client_ip(scope),
                },
            )


class CorsMiddleware:
    """Starlette's CORSMiddleware, built on the first request from the runtime's settings."""

    def __init__(self, app) -> None:
        self.app = app
        self._cors = None
        self._origins: tuple[str, ...] | None = None

    async def __call__(self, scope, receive, send) -> None:
        runtime = current_runtime()
        if scope["type"] != "http" or runtime is None or not runtime.settings.cors_origins:
            await self.app(scope, receive, send)
            return
        origins = tuple(runtime.settings.cors_origins)
        if self._cors is None or origins != self._origins:
            from starlette.middleware.cors import CORSMiddleware

            self._cors = CORSMiddleware(
                self.app,
                allow_origins=list(origins),
                allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"],
                max_age=600,
            )
            self._origins = origins
        await self._cors(scope, receive, send)


def unknown_query(names: Iterable[str], takes: Iterable[str] = (), hint: str = "") -> list[dict]:
    """The validation errors of query parameters ``names`` that a route taking ``takes`` does
    not take, each naming those it takes."""
    takes = sorted(takes)
    accepted = f"this route takes {', '.join(takes)}" if takes else "this route takes none"
    message = f"unknown query parameter; {accepted}{hint}"
    return [{"loc": ("query", n), "msg": message, "type": "extra_forbidden"} for n in names]


def _query_names(scope) -> list[str]:
    """The names of the request's query parameters, sorted, once each."""
    query = scope.get("query_string", b"").decode("latin-1")
    return sorted({name for name, _ in parse_qsl(query, keep_blank_values=True)})


class GuardMiddleware:
    """Rate limit, then authentication, on ``/api`` routes."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api"):
            await self.app(scope, receive, send)
            return
        runtime = current_runtime()
        if runtime is None:
            await send_json(send, 503, {"error": "service starting"}, {"Retry-After": "5"})
            return
        if path not in UNLIMITED_PATHS:
            decision = await runtime.limits.hit(client_ip(scope))
            if not decision.allowed:
                runtime.metrics.rate_limited.labels(limit="requests").inc()
                limit = runtime.limits.request_limit
                await send_json(
                    send,
                    429,
                    {
                        "error": f"rate limit exceeded ({limit}); retry in {decision.retry_after} s",
                        "retry_after": decision.retry_after,
                    },
                    {"Retry-After": str(decision.retry_after)},
                )
                return
        if path not in PUBLIC_PATHS:
            try:
                principal = runtime.tokens.verify(_header(scope, b"authorization"))
                if not runtime.user_active(principal.username):
                    raise AuthError("disabled", "user is disabled or unknown")
            except AuthError as exc:
                runtime.metrics.auth_failures.labels(reason=exc.reason).inc()
                await send_json(
                    send,
                    401,
                    {"error": exc.message, "reason": exc.reason},
                    {"WWW-Authenticate": exc.www_authenticate()},
                )
                return
            USERNAME.set(principal.username)
            scope.setdefault("state", {})["principal"] = principal
        accepted = BODY_MEDIA_TYPES.get(path, ()) if scope.get("method") == "POST" else ()
        if accepted:
            media = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if media not in ("", *accepted):
                message = f"send the body as {_one_of(accepted)}, not {media!r}"
                await send_json(
                    send,
                    415,
                    {
                        "error": message,
                        "detail": [
                            {
                                "loc": ["header", "content-type"],
                                "msg": message,
                                "type": "media_type",
                            }
                        ],
                    },
                    {},
                )
                return
        if path.endswith("/"):
            # No /api route ends with a slash: a 404 like any unknown path, not the routers'
            # redirect, whose Location comes from the Host header (wrong behind a proxy) and
            # which many clients follow without a POST's body.
            await send_json(send, 404, {"error": ROUTER_ERRORS[404][1]}, {})
            return
        # BentoML's routes read the body only; FastAPI's check their own (routes.known_query).
        names = _query_names(scope) if accepted and path != LOGIN_PATH else []
        if names:
            errors = unknown_query(names, hint=" (send the body as JSON)")
            await send_json(send, 400, validation_body(errors), {})
            return
        if scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
            length = _header(scope, b"content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
                await _too_large(send)
                return
            if length is None:  # chunked: read it here, bounded, then hand it on
                messages = await _read_bounded(receive)
                if messages is None:
                    await _too_large(send)
                    return
                receive = _replay(messages, receive)
        await self.app(scope, receive, _api_errors(send))
