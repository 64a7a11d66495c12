"""Driving a running kiosk app through its local interface, as its touchscreen page does (the demo, the
end-to-end tests and the bench): each action, then waiting for the step the engine settles in."""

from __future__ import annotations

import time
from typing import Any

from wire.http_json import JsonClient


class KioskAppClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = JsonClient(self.base_url, {"Origin": self.base_url}, timeout_s=40)

    def state(self) -> dict[str, Any]:
        return self.http.call("GET", "/api/state")

    def act(self, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST /api/<action>; an out-of-order or refused action raises HttpError with its code."""
        return self.http.call("POST", f"/api/{action}", body or {})

    def wait_step(self, *steps: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """The state once the engine rests (not busy) in one of ``steps``."""
        deadline = time.monotonic() + timeout_s
        state = self.state()
        while not (state["step"] in steps and not state["busy"]):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"kiosk app stayed at {state['step']} (busy={state['busy']}), wanted {steps}"
                )
            wait = max(0.1, min(left, 10.0))
            state = self.http.call("GET", f"/api/state?since={state['version']}&wait={wait:.1f}")
        return state

    def payment_outcome(self, outcome: str) -> dict[str, Any]:
        """Demo mode: the simulated payment device's next answer (or the answer to the payment waiting)."""
        return self.http.call("POST", "/api/demo/payment", {"outcome": outcome})

    def ledger(self) -> dict[str, Any]:
        return self.http.call("GET", "/api/demo/payment")
