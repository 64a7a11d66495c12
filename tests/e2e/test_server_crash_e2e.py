"""The issuance server SIGKILLed at each point of a kiosk session and started again, across the real parts
(a stack of its own: killing its server would break the shared one's other tests): the kiosk app tries each
step whose answer was lost again (``retry_s``, 15 s) and the session goes on; money and certificates
reconcile exactly: printed once, paid once, nothing refunded, the audit chain intact."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from konbini_demo.cups import CupsServer
from konbini_demo.kiosk_app_client import KioskAppClient
from konbini_demo.processes import free_port
from konbini_demo.resident_stack import private_cups
from konbini_demo.stack import Stack
from tests.e2e.stacks import registered_card, running_stack
from tests.e2e.test_kiosk_app_e2e import FEE, PIN, issuance, to_menu
from tests.e2e.test_kiosk_crash_e2e import print_job_handed_over

pytestmark = pytest.mark.e2e
RESTART_AFTER_S = 1.0  # the server is down this long before it starts again (well within retry_s)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("server-crash"), residents=200, cards=True) as s:
        registered_card(s, PIN, "server-crash-resident")
        yield s


@pytest.fixture(scope="module")
def cups(stack: Stack) -> Iterator[CupsServer]:
    with private_cups(stack, f"crash{free_port()}") as server:
        yield server


def server_dies_and_comes_back(stack: Stack) -> threading.Thread:
    """SIGKILL the server now; start it again after RESTART_AFTER_S, in the background."""
    stack.services["server"].kill()

    def back() -> None:
        time.sleep(RESTART_AFTER_S)
        stack.start_server()

    thread = threading.Thread(target=back, daemon=True)
    thread.start()
    return thread


def to_confirm(app: KioskAppClient) -> None:
    to_menu(app)
    app.act("select", {"kind": "inkan"})
    app.act("options", {})
    assert app.wait_step("confirm", "options")["step"] == "confirm"


def before_issue(stack: Stack, app: KioskAppClient, folder: Path) -> threading.Thread:
    to_confirm(app)
    thread = server_dies_and_comes_back(stack)  # the resident pays while the server is gone
    app.act("pay")
    return thread


def before_print_report(stack: Stack, app: KioskAppClient, folder: Path) -> threading.Thread:
    to_confirm(app)
    app.act("pay")
    assert app.wait_step("ready", "confirm", "take_card")["step"] == "ready"
    thread = server_dies_and_comes_back(stack)  # the PDF is fetched, printed and reported meanwhile
    return thread


def while_printing(stack: Stack, app: KioskAppClient, folder: Path) -> threading.Thread:
    to_confirm(app)
    app.act("pay")
    [cert] = app.wait_step("ready", "confirm", "take_card")["certificates"]
    app.act("print")
    deadline = time.monotonic() + 30
    while not print_job_handed_over(folder, cert["serial"]):  # CUPS has the job: the report comes next
        assert time.monotonic() < deadline, "the print job never reached CUPS"
        time.sleep(0.02)
    return server_dies_and_comes_back(stack)


POINTS: dict[str, Callable[[Stack, KioskAppClient, Path], threading.Thread]] = {
    "after_payment_before_issue": before_issue,
    "before_fetch_and_print_report": before_print_report,
    "while_printing_before_its_report": while_printing,
}


@pytest.mark.parametrize("point", list(POINTS))
def test_a_server_killed_mid_session_costs_the_resident_nothing(
    stack: Stack, cups: CupsServer, tmp_path: Path, point: str
) -> None:
    url = stack.start_kiosk_app(
        free_port(), "--printer", cups.queue("pdf"), "--cups-server", cups.socket, "--data-dir", str(tmp_path)
    )
    app = KioskAppClient(url)
    restarting = POINTS[point](stack, app, tmp_path)
    state = app.wait_step("ready", "confirm", "take_card", "language", timeout_s=60)
    if state["step"] == "ready":
        app.act("print")
        state = app.wait_step("take_card", "language", timeout_s=60)
    restarting.join(60)
    assert state["message"]["code"] == "printed", state["message"]
    [cert] = state["certificates"]
    row = issuance(stack, cert["serial"])
    assert row["status"] == "printed" and row["refunded_yen"] == 0 and row["total_yen"] == FEE
    assert app.ledger()["taken_yen"] == FEE and app.ledger()["refunded_yen"] == 0
    assert len(cups.printed(cert["serial"])) == 1
    assert stack.ops("audit-verify").returncode == 0
