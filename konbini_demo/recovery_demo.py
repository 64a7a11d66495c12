"""``konbini-demo --recovery``: the registry dies while kiosks issue; the server fails over to recovery,
kiosks keep issuing from the replica (the certificate says as of when); the registry returns; the server
catches up and returns to normal; the reconciliation report lists what changed upstream since."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from konbini_demo.processes import ServiceError
from konbini_demo.stack import Stack
from registry_sim.generator import DEMO_ATENA_NO

CHANGES_PER_S = 50


def step(text: str) -> None:
    print(f"recovery demo: {text}", file=sys.stderr, flush=True)


def wait_until(what: str, check: Callable[[], bool], timeout_s: float = 30) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise ServiceError(f"timed out waiting for {what}")


def issue(stack: Stack, pin: str, out: Path) -> tuple[str, Path]:
    result = stack.kiosk_session(pin, out)
    if result.returncode != 0:
        raise ServiceError(f"kiosk session failed: {result.stderr.strip()}")
    serial, path = stack.printed(result)[0]
    verdict = stack.verify(path)
    if verdict.returncode != 0:
        raise ServiceError(f"verification of {path} failed: {verdict.stdout.strip()}")
    return serial, path


def run_recovery_demo(stack: Stack, pin: str, out: Path) -> str:
    mode = lambda: str(stack.ops_status()["mode"]["mode"])  # noqa: E731
    step(f"changes flowing from the registry at {CHANGES_PER_S}/s; a kiosk issuing")
    stack.registry().call("POST", "/control/generate", {"rate": CHANGES_PER_S, "duration_s": None, "seed": 1})
    serial, _ = issue(stack, pin, out)
    step(f"normal mode: issued {serial}")
    step("killing the registry (SIGKILL)")
    stack.kill("registry_sim")
    failover_s = wait_until("recovery mode", lambda: mode() == "recovery", 10)
    step(f"recovery mode after {failover_s:.2f} s: {stack.ops_status()['mode']['reason']}")
    serial, path = issue(stack, pin, out)
    text = stack.pdf_text(path)
    as_of = next((line.strip() for line in text.splitlines() if "時点" in line), "")
    step(f"recovery mode: issued {serial} from the replica; printed: {as_of}")
    step("the registry returns; a change made upstream meanwhile (the demo resident registered a 旧氏)")
    restarted = time.monotonic()
    stack.restart_registry()
    person = stack.registry().call("GET", f"/records/resident/{DEMO_ATENA_NO}")
    stack.registry().call(
        "POST",
        "/control/apply",
        {
            "changes": [
                {
                    "op": "upsert",
                    "record": {**person, "kyuuji": "鹿児島", "version": person["version"] + 1},
                }
            ]
        },
    )
    wait_until("normal mode", lambda: mode() == "normal", 60)
    catchup_s = time.monotonic() - restarted
    step(f"normal mode {catchup_s:.2f} s after the registry returned: {stack.ops_status()['mode']['reason']}")
    stack.registry().call("POST", "/control/generate", {"rate": 0})
    report = stack.ops("reconcile", "--csv", str(out / "reconcile.csv"))
    print(report.stdout, file=sys.stderr)
    reconciled = report.stdout.count(DEMO_ATENA_NO)
    return f"RECOVERY DEMO OK failover_s={failover_s:.2f} catchup_s={catchup_s:.2f} reconciled={reconciled}"
