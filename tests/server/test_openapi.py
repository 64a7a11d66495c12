"""The OpenAPI document names every route the server serves, and nothing it does not."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from openapi_spec_validator import validate

from issuance_server.app import make_app
from issuance_server.settings import load_settings
from wire.kiosk_api import ErrorCode
from wire.print_guard import Finding


def document(package: str = "issuance_server") -> dict[str, Any]:
    """The package's OpenAPI document, parsed as YAML and checked against the OpenAPI 3.1 schema."""
    text = resources.files(package).joinpath("openapi.yaml").read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    validate(doc)
    return doc


def documented(package: str = "issuance_server") -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document(package)["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }


def served(app: web.Application) -> set[tuple[str, str]]:
    """Routes of the app and its sub-apps (whose resources already carry their prefix)."""
    routes = set()
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:
            routes |= served(info["app"])
            continue
        path = info.get("path") or info.get("formatter", "")
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)
        for route in resource:
            if route.method != "HEAD":
                routes.add((route.method, path))
    return routes


def test_openapi_matches_the_routes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(load_settings(env={}, data_dir=tmp_path))
    assert served(app) == documented()


def test_the_error_schema_lists_every_code_the_server_answers() -> None:
    """Every stable code (the kiosk protocol's enum and each literal ``ApiError(status, "code", ...)``)."""
    root = Path(__file__).resolve().parents[2]
    codes = {e.value for e in ErrorCode} | {"bad_request", "request_too_large"}  # http_server.py's own
    for source in [
        *root.glob("issuance_server/**/*.py"),
        *root.glob("registration/*.py"),
        *root.glob("recovery/*.py"),
    ]:
        codes |= set(re.findall(r'ApiError\(\s*\d+,\s*"([a-z_]+)"', source.read_text(encoding="utf-8")))
    error = document()["components"]["schemas"]["Error"]["properties"]["error"]
    assert codes - set(error["properties"]["code"]["enum"]) == set()


def test_the_print_guard_schema_lists_every_finding() -> None:
    schema = document()["components"]["schemas"]["PrintGuard"]
    assert schema["properties"]["finding"]["enum"] == [finding.value for finding in Finding]
