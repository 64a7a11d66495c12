"""The kiosk app's OpenAPI document names every route of its local interface (demo routes included) and
every field of the state the page gets."""

from __future__ import annotations

from importlib import resources

import yaml

from kiosk.engine import KioskEngine
from kiosk.local_api import make_local_app, view
from kiosk.payment import SimulatedPaymentDevice
from kiosk.session_steps import Step
from konbini_demo.processes import free_port
from tests.server.test_openapi import documented, served


def test_the_local_openapi_matches_the_routes() -> None:
    engine = KioskEngine(None, None, None, SimulatedPaymentDevice(), None)  # type: ignore[arg-type]
    assert served(make_local_app(engine, "127.0.0.1", free_port(), demo=True)) == documented("kiosk")


async def test_the_documented_state_is_the_state_the_page_gets() -> None:
    engine = KioskEngine(None, None, None, SimulatedPaymentDevice(), None)  # type: ignore[arg-type]
    spec = yaml.safe_load(resources.files("kiosk").joinpath("openapi.yaml").read_text(encoding="utf-8"))
    schema = spec["components"]["schemas"]["State"]["properties"]
    assert set(schema) == set(view(engine))
    assert schema["step"]["enum"] == [step.value for step in Step]
