"""The aggregated OpenAPI document: every service's paths under /api/<service>, schemas prefixed by service."""

from __future__ import annotations

import copy

import httpx

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head"}


def _rename_refs(node, service: str):
    """Rewrite every ``#/components/schemas/X`` reference to ``#/components/schemas/<service>_X``."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                out[key] = "#/components/schemas/" + service + "_" + value.rsplit("/", 1)[1]
            else:
                out[key] = _rename_refs(value, service)
        return out
    if isinstance(node, list):
        return [_rename_refs(item, service) for item in node]
    return node


def merge(base: dict, service: str, spec: dict) -> None:
    """Add one service's spec to ``base`` in place."""
    spec = _rename_refs(copy.deepcopy(spec), service)
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                operation["tags"] = [f"{service}: {tag}" for tag in operation.get("tags", ["default"])]
                operation["operationId"] = f"{service}_{operation.get('operationId', method + path)}"
        base["paths"][f"/api/{service}{path}"] = item
    schemas = base.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        schemas[f"{service}_{name}"] = schema
    for name, scheme in spec.get("components", {}).get("securitySchemes", {}).items():
        base["components"].setdefault("securitySchemes", {})[name] = scheme


def aggregate(own: dict, services: dict[str, str], timeout_s: float = 5.0) -> dict:
    """The gateway's own spec plus every reachable service's; unreachable ones are named in the description."""
    doc = copy.deepcopy(own)
    missing = []
    for name, url in services.items():
        try:
            response = httpx.get(f"{url}/openapi.json", timeout=timeout_s)
            response.raise_for_status()
            merge(doc, name, response.json())
        except (httpx.HTTPError, ValueError):
            missing.append(name)
    if missing:
        doc["info"]["description"] += f"\n\n**Not reachable when this page was built:** {', '.join(missing)}."
    return doc
