"""The kiosk app's OpenAPI document names every route of its local interface (demo routes included)."""

from __future__ import annotations

from kiosk.engine import KioskEngine
from kiosk.local_api import make_local_app
from kiosk.payment import SimulatedPaymentDevice
from konbini_demo.processes import free_port
from tests.server.test_openapi import documented, served


def test_the_local_openapi_matches_the_routes() -> None:
    engine = KioskEngine(None, None, None, SimulatedPaymentDevice(), None)  # type: ignore[arg-type]
    assert served(make_local_app(engine, "127.0.0.1", free_port(), demo=True)) == documented("kiosk")
