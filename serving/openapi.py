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
from typing import Any

from serving import schemas
from serving.middleware import PUBLIC_PATHS

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
    for path, item in doc["paths"].items():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _bodies(operation, components["schemas"])
            if path.startswith("/api") and path not in PUBLIC_PATHS:
                operation["security"] = [{BEARER: []}]
                answers = operation["responses"]
                if 401 not in answers and "401" not in answers:
                    answers["401"] = {
                        "description": "No valid bearer token (see POST /api/auth/login)"
                    }
    return _nullable(doc)


@lru_cache(maxsize=1)
def served_document() -> dict[str, Any]:
    """The document of the prediction service, built once per process."""
    from serving.service import PredictionService

    return document(PredictionService.openapi_spec.asdict())
