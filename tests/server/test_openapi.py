"""The OpenAPI document names every route the server serves, and nothing it does not."""

from __future__ import annotations

import re
from importlib import resources

from aiohttp import web

from issuance_server.app import make_app
from issuance_server.settings import load_settings


def documented(package: str = "issuance_server") -> set[tuple[str, str]]:
    text = resources.files(package).joinpath("openapi.yaml").read_text(encoding="utf-8")
    found, path = set(), None
    for line in text.splitlines():
        if m := re.match(r"^  (/\S*):$", line):
            path = m[1]
        elif path and (m := re.match(r"^    (get|post|put|delete|patch):$", line)):
            found.add((m[1].upper(), path))
    return found


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
