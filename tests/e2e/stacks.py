"""Stacks of real processes for the end-to-end tests (registry_sim, the server, a card CA, the demo clerk and a
kiosk, as ``konbini-demo`` starts them), each on its own ports and, when it puts cards in a reader, on a
reader leased from the pool (tests/pool.py)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

from konbini_demo.kiosk_app_client import KioskAppClient
from konbini_demo.processes import free_port, run
from konbini_demo.soft_kiosk import SoftKiosk
from konbini_demo.stack import KIOSK_ID, Stack
from registry_sim.generator import DEMO_ATENA_NO
from tests.pool import lease_reader

ROOT = Path(__file__).resolve().parents[2]
# A registry link that notices a dead registry, and trusts a living one again, within seconds.
FAST_LINK = {
    "KONBINI_BREAKER_COOLDOWN_S": "0.5",
    "KONBINI_BREAKER_STABLE_S": "3",
    "KONBINI_REGISTRY_TIMEOUT_S": "0.5",
}


def wait_for(
    what: str, check: Callable[[], Any], timeout_s: float = 15.0, ignoring: tuple[type[Exception], ...] = ()
) -> Any:
    """``check()``'s first true value within ``timeout_s`` (an exception of ``ignoring`` counts as false),
    or an AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except ignoring:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def running_stack(
    root: Path, residents: int = 200, server_settings: dict[str, str] | None = None, cards: bool = False
) -> Iterator[Stack]:
    """A started stack, stopped on exit; ``cards``: it will put virtual cards in a reader (one is leased)."""
    with lease_reader() if cards else contextlib.nullcontext() as reader:
        stack = (
            Stack(root, residents, vpcd_port=reader.port, reader=reader.name, server_settings=server_settings)
            if reader is not None
            else Stack(root, residents, server_settings=server_settings)
        )
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()


@contextlib.contextmanager
def server_only_stack(root: Path, settings: dict[str, str] | None = None) -> Iterator[Stack]:
    """Only the server (no registry: its link off), a card CA and one enrolled kiosk; stopped on exit."""
    stack = Stack(root, server_settings={"KONBINI_REGISTRY_LINK": "false", **(settings or {})})
    run(["devices.card.cli", "init-ca", "--dir", str(stack.ca_dir)])
    try:
        stack.start_server()
        stack.ops("kiosk-add", KIOSK_ID, "--location", "test store", "--out", str(stack.kiosk_credentials))
        yield stack
    finally:
        stack.stop()


def demo_kiosk(stack: Stack) -> SoftKiosk:
    """A software kiosk of the stack with the demo resident's card registered (at the desk, by API)."""
    kiosk = SoftKiosk(stack, DEMO_ATENA_NO)
    kiosk.register()
    return kiosk


def card_taken(stack: Stack, app: KioskAppClient) -> dict[str, Any]:
    """The card taken out at the end of a visit: the done screen's state (what happened, in the session's
    language), which is then closed as a resident may close it, back to the first screen."""
    stack.remove_card()
    done = app.wait_step("done", timeout_s=10)
    app.act("cancel")
    app.wait_step("language", timeout_s=10)
    return done


def registered_card(stack: Stack, pin: str, name: str = "resident") -> Path:
    """A new card of the demo resident (𠮷田　髙志), registered with ``pin`` and left in the reader: whatever
    card and PIN an earlier test registered for them are replaced."""
    card = stack.personalise_card(name, pin)
    stack.insert_card(card)
    stack.register(DEMO_ATENA_NO, pin)
    return card


def run_demo(
    folder: Path, *flags: str, residents: int = 200, timeout_s: float = 600
) -> CompletedProcess[str]:
    """``konbini-demo`` as a person runs it (``flags``: ``--desk``, ...), in ``folder``, on free ports and a
    leased reader."""
    with lease_reader() as reader:
        return subprocess.run(
            [sys.executable, "-m", "konbini_demo", *flags, "--root", str(folder / "demo"), "--out",
             str(folder / "out"), "--residents", str(residents), "--registry-port", str(free_port()),
             "--server-port", str(free_port()), "--vpcd-port", str(reader.port), "--reader", reader.name],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip


def caught_up(stack: Stack) -> bool:
    """The server's replica has applied every change the registry has."""
    return bool(stack.ops_status()["link"]["replica_seq"] == stack.registry().call("GET", "/health")["seq"])


def change_upstream(stack: Stack, record: dict[str, Any], timeout_s: float = 30) -> None:
    """``record`` upserted at the registry, returning once the server's replica has it: a test that changes
    a record of the shared stack puts it back this way, so the next test does not see it half restored."""
    stack.registry().call("POST", "/control/apply", {"changes": [{"op": "upsert", "record": record}]})
    deadline = time.monotonic() + timeout_s
    while not caught_up(stack):
        if time.monotonic() > deadline:
            raise AssertionError(f"the replica did not catch up with the registry within {timeout_s:g} s")
        time.sleep(0.1)


def print_job_handed_over(folder: Path, serial: str) -> bool:
    """The terminal's journal has the printer's reference of the job (the printer has it)."""
    with sqlite3.connect(f"file:{folder / 'journal.sqlite3'}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT job FROM certificates WHERE serial = ?", (serial,)).fetchone()
    return bool(row and row[0])
