"""The OpenAPI document served at ``/docs.json`` (and read by the Swagger page at ``/``).

BentoML generates it; two things are added on top:

- **Authentication**: a ``bearerAuth`` scheme (the JWT of ``POST /api/auth/login``) on every
  ``/api`` operation but the public ones, so the Swagger page offers "Authorize" and its
  "Try it out" sends the token.
- **Bodies as the pydantic models define them**: BentoML inlines each API's request and answer
  model as ``<Model>IODescriptor`` and drops ``null`` from optional fields on the way; those
  schemas are replaced with the models' own, and a field that may be ``null`` is marked
  ``nullable`` (OpenAPI 3.0's form of JSON Schema's ``anyOf [..., {"type": "null"}]``), the
  whole document in OpenAPI 3.0's dialect, as ``openapi-spec-validator`` checks it.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from importlib.metadata import version
from typing import Any

from serving import middleware, schemas
from serving.middleware import LOGIN_PATH, PUBLIC_PATHS, UNLIMITED_PATHS

BEARER = "bearerAuth"
SCHEMA_REF = "#/components/schemas/{model}"
_DESCRIPTOR = "IODescriptor"


def _nullable(node: Any) -> Any:
    """``node`` in OpenAPI 3.0's dialect: every ``anyOf [X, {"type": "null"}]`` written as ``X``
    plus ``nullable``, and a schema's ``examples`` list as its first ``example``."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable(value) for key, value in node.items()}
    if isinstance(node.get("examples"), list):  # a media type's examples are a map: kept
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        node.pop("anyOf")
        if len(rest) == 1 and "$ref" not in rest[0]:
            node.update(rest[0])
        else:
            node["anyOf" if len(rest) > 1 else "allOf"] = rest
        node["nullable"] = True
    return node


def _model_schema(title: str, components: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of the model BentoML named ``<Model>IODescriptor``; its nested models go to
    ``components``."""
    model = getattr(schemas, title.removesuffix(_DESCRIPTOR), None)
    if model is None:
        return None
    schema = model.model_json_schema(ref_template=SCHEMA_REF)
    components.update(schema.pop("$defs", {}))
    return schema


def _bodies(operation: dict[str, Any], components: dict[str, Any]) -> None:
    bodies = [operation.get("requestBody", {}), *operation.get("responses", {}).values()]
    for body in bodies:
        media = body.get("content", {}).get("application/json", {}) if body else {}
        title = media.get("schema", {}).get("title", "")
        if title.endswith(_DESCRIPTOR) and (schema := _model_schema(title, components)):
            media["schema"] = schema


def document(spec: dict[str, Any]) -> dict[str, Any]:
    """BentoML's ``spec`` (``Service.openapi_spec.asdict()``) with authentication and the
    models' own body schemas."""
    doc = copy.deepcopy(spec)
    components = doc.setdefault("components", {})
    found = components.setdefault("schemas", {})
    for title in [t for t in found if t.endswith(_DESCRIPTOR)]:
        if (schema := _model_schema(title, found)) is not None:
            found[title] = schema
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The access_token of POST /api/auth/login.",
    }
    found[ERROR] = ERROR_SCHEMA
    # BentoML lists its own /metrics, which the service turns off (404); it serves /api/metrics.
    doc["paths"].pop("/metrics", None)
    for path, item in doc["paths"].items():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _bodies(operation, components["schemas"])
            if path.startswith("/api"):
                _error_answers(path, operation)
            if path.startswith("/api") and path not in PUBLIC_PATHS:
                operation["security"] = [{BEARER: []}]
    for unused in ("HTTPValidationError", "ValidationError", *BENTOML_ERRORS):
        found.pop(unused, None)
    doc["info"] = {
        "title": "NBA predictions API",
        "version": version("nba-mlops"),
        "description": INFO,
    }
    return _nullable(doc)


ERROR = "ApiError"
ERROR_SCHEMA = {
    "type": "object",
    "title": ERROR,
    "description": "Every 4xx and 5xx answer of /api: a message, and for invalid input one "
    "entry per wrong field.",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What went wrong, in one line."},
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                        "description": 'Where: ["body", "home_team"], ["query", "limit"], ...',
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
# The error bodies BentoML and FastAPI declare, which the service never sends in that shape
# (FastAPI's 422 is a 400 here; BentoML's "detail" is a list, not a string).
BENTOML_ERRORS = ("InvalidArgument", "NotFound", "InternalServerError")
INFO = (
    "Home-win probabilities and player points from the registered champion models. Log in with "
    "POST /api/auth/login and send the token as `Authorization: Bearer <token>`. Errors are "
    'JSON `{"error": ..., "detail": [...]}`; see docs/serving.md.'
)
ADMIN_SUFFIXES = ("/load", "/unload")


def too_large_text(limit: int) -> str:
    """The 413's description, from the limit the middleware enforces (``MAX_BODY_BYTES``, read
    when the document is built) so the two cannot disagree: "Body over 1048576 bytes (1 MiB)"."""
    mib = f" ({limit // 2**20} MiB)" if limit % 2**20 == 0 else ""
    return f"Body over {limit} bytes{mib}"


def _error(description: str) -> dict[str, Any]:
    ref = {"$ref": SCHEMA_REF.format(model=ERROR)}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _error_answers(path: str, operation: dict[str, Any]) -> None:
    """The error answers ``path`` really gives, each with the API's error body, in place of the
    frameworks' generated ones."""
    answers = {str(code): answer for code, answer in operation["responses"].items()}
    for code in ("400", "404", "422", "500"):
        answers.pop(code, None)
    operation["responses"] = answers
    body = "requestBody" in operation
    if body or operation.get("parameters"):
        answers["400"] = _error("Invalid input: each wrong field is named in detail")
    if path not in PUBLIC_PATHS:
        answers["401"] = _error("No valid bearer token (see POST /api/auth/login)")
    elif path == LOGIN_PATH:
        answers["401"] = _error("Wrong username or password, or a disabled user")
    if path.endswith(ADMIN_SUFFIXES):
        answers["403"] = _error("The admin role is needed")
    if "{" in path or path.startswith("/api/predict"):
        answers["404"] = _error("No such model version or drift report")
    if path.endswith("/unload"):
        answers["409"] = _error("The version is answering for its model: load another first")
    if body:
        answers["413"] = _error(too_large_text(middleware.MAX_BODY_BYTES))
        answers["415"] = _error("Body of another media type than the ones read")
    if path.endswith("/load"):
        answers["422"] = _error("The version could not be loaded")
    if path not in UNLIMITED_PATHS:
        answers["429"] = _error("Rate limit exceeded: see the Retry-After header")
    if path == "/api/health":
        answers["503"] = {
            "description": "Not ready: the same body, with the checks that fail",
            "content": copy.deepcopy(answers["200"]["content"]),
        }
    else:
        answers["503"] = _error("Starting, or the store or registry is unavailable: Retry-After")


@lru_cache(maxsize=1)
def served_document() -> dict[str, Any]:
    """The document of the prediction service, built once per process."""
    from serving.service import PredictionService

    return document(PredictionService.openapi_spec.asdict())
