"""The kiosk app killed (SIGKILL) in the middle of a session and started again on the same data folder,
across the real parts (pcscd + vpcd with the card, the server and registry_sim, a private cupsd): at its
start it finishes what the journal holds, and money and certificates reconcile exactly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from konbini_demo.cups import CupsServer
from konbini_demo.kiosk_app_client import KioskAppClient
from konbini_demo.processes import Service, free_port
from konbini_demo.resident_stack import private_cups
from konbini_demo.stack import Stack
from tests.e2e.kiosk_proxy import KioskProxy
from tests.e2e.private_pcscd import PrivatePcscd
from tests.e2e.stacks import print_job_handed_over, registered_card
from tests.e2e.test_kiosk_app_e2e import FEE, PIN, issuance, server_db, to_menu, to_ready

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def card(stack: Stack) -> Path:
    return registered_card(stack, PIN, "crash-resident")


def terminal(stack: Stack, cups: CupsServer, card: Path, folder: Path, *flags: str) -> KioskAppClient:
    """The kiosk app on the terminal's data folder ``folder`` (the same folder after a restart)."""
    running = stack.services.get("card")
    if running is None or str(card) not in running.args:
        stack.insert_card(card)
    url = stack.start_kiosk_app(
        free_port(), "--printer", cups.queue("pdf"), "--cups-server", cups.socket, "--data-dir", str(folder),
        *flags,
    )  # fmt: skip
    return KioskAppClient(url)


def killed(stack: Stack) -> str:
    """SIGKILL the kiosk app; what it logged."""
    app = stack.services["kiosk_app"]
    app.kill()
    return app.output()


def test_killed_after_payment_the_next_start_voids_and_refunds_once(
    stack: Stack, cups: CupsServer, card: Path, tmp_path: Path
) -> None:
    app = terminal(stack, cups, card, tmp_path / "terminal")
    serial = to_ready(app)["certificates"][0]["serial"]  # paid and issued, not printed
    killed(stack)
    again = terminal(stack, cups, card, tmp_path / "terminal")
    said = stack.services["kiosk_app"].output()
    assert "finished 1 session(s) left open: 0 print report(s), 200 yen refunded, 0 yen owed" in said, said
    assert again.ledger()["taken_yen"] == again.ledger()["refunded_yen"] == FEE  # the device's own books
    row = issuance(stack, serial)
    assert row["status"] == "voided" and row["refunded_yen"] == row["total_yen"] == FEE
    assert cups.printed(serial) == []
    assert again.state()["step"] == "language"  # ready for the next resident
    stack.stop_kiosk_app()
    third = terminal(stack, cups, card, tmp_path / "terminal")  # nothing is finished twice
    assert "finished" not in stack.services["kiosk_app"].output()
    assert third.ledger()["refunded_yen"] == FEE


class HoldingProxy(KioskProxy):
    """Forwards everything but the requests whose path ends with ``held``: those it holds (the kiosk dies
    waiting), before the server sees them or, with ``after``, once the server has answered."""

    def __init__(self, stack: Stack, held: str, after: bool = False) -> None:
        self.held_path, self.after, self.held = held, after, 0
        super().__init__(stack)

    async def _forward(self, request: web.Request) -> web.Response:
        if not (request.method == "POST" and request.path.endswith(self.held_path)):
            return await super()._forward(request)
        answer = await super()._forward(request) if self.after else None
        self.held += 1
        await asyncio.sleep(3600)
        return answer or web.Response(status=504)


def wait_until(done: Callable[[], object], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_killed_while_the_server_issued_the_next_start_voids_and_refunds_once(
    stack: Stack, cups: CupsServer, card: Path, tmp_path: Path
) -> None:
    proxy = HoldingProxy(stack, "/certificates", after=True)  # issued; the answer never reaches the kiosk
    app = terminal(stack, cups, card, tmp_path / "terminal", "--server", proxy.url)
    to_menu(app)
    app.act("select", {"kind": "inkan"})
    app.act("options", {})
    app.wait_step("confirm")
    app.act("pay")
    wait_until(lambda: proxy.held, "the issue request")
    killed(stack)
    again = terminal(stack, cups, card, tmp_path / "terminal")
    said = stack.services["kiosk_app"].output()
    assert "finished 1 session(s) left open: 0 print report(s), 200 yen refunded, 0 yen owed" in said, said
    assert again.ledger()["taken_yen"] == again.ledger()["refunded_yen"] == FEE
    with server_db(stack) as conn:
        [row] = conn.execute(
            "SELECT i.serial, i.status, p.refunded_yen FROM issuances i JOIN kiosk_payments p"
            " ON p.quote_id = i.payment_id ORDER BY i.rowid DESC LIMIT 1"
        ).fetchall()
    assert (row["status"], row["refunded_yen"]) == ("voided", FEE) and cups.printed(row["serial"]) == []


@pytest.mark.parametrize(("queue", "printed"), [("pdf", True), ("stuck", False)])
def test_killed_while_printing_the_next_start_asks_the_printer_what_came_out(
    stack: Stack, cups: CupsServer, card: Path, tmp_path: Path, queue: str, printed: bool
) -> None:
    """The job is in CUPS when the kiosk dies: it comes out (pdf) or hangs (stuck); the next start follows it
    to its end (cancelling one that does not end in time) and reports what the printer says."""
    flags = ("--printer", cups.queue(queue), "--print-timeout-s", "3")
    app = terminal(stack, cups, card, tmp_path / "terminal", *flags)
    serial = to_ready(app)["certificates"][0]["serial"]
    app.act("print")
    wait_until(lambda: print_job_handed_over(tmp_path / "terminal", serial), "the print job in CUPS")
    killed(stack)
    again = terminal(stack, cups, card, tmp_path / "terminal", *flags)
    said = stack.services["kiosk_app"].output()
    refund = 0 if printed else FEE
    assert f"finished 1 session(s) left open: 1 print report(s), {refund} yen refunded, 0 yen owed" in said, (
        said
    )
    row = issuance(stack, serial)
    assert row["status"] == ("printed" if printed else "voided") and row["refunded_yen"] == refund
    assert again.ledger()["taken_yen"] == FEE and again.ledger()["refunded_yen"] == refund
    wait_until(lambda: len(cups.printed(serial)) == int(printed), "the printer's output", 30)
    assert len(cups.printed(serial)) == int(printed)


def test_killed_after_printing_before_its_report_the_next_start_reports_it_printed(
    stack: Stack, cups: CupsServer, card: Path, tmp_path: Path
) -> None:
    proxy = HoldingProxy(stack, "/print-report")
    app = terminal(stack, cups, card, tmp_path / "terminal", "--server", proxy.url)
    serial = to_ready(app)["certificates"][0]["serial"]
    app.act("print")
    wait_until(lambda: proxy.held and cups.printed(serial), "the print and its report")
    assert len(cups.printed(serial)) == 1  # on paper; the report never reached the server
    killed(stack)
    again = terminal(stack, cups, card, tmp_path / "terminal")  # straight to the server now
    said = stack.services["kiosk_app"].output()
    assert "finished 1 session(s) left open: 1 print report(s), 0 yen refunded, 0 yen owed" in said, said
    row = issuance(stack, serial)
    assert row["status"] == "printed" and row["refunded_yen"] == 0
    assert again.ledger()["taken_yen"] == FEE and again.ledger()["refunded_yen"] == 0
    assert len(cups.printed(serial)) == 1  # printed once


@pytest.mark.parametrize("came_out", [True, False], ids=["resumed_and_printed", "cancelled"])
def test_cupsd_stopped_mid_job_keeps_the_certificate_in_doubt_until_the_printer_answers(
    stack: Stack, card: Path, tmp_path: Path, came_out: bool
) -> None:
    """The printer service dies with the job spooled (cupsd resumes its jobs when it comes back): the kiosk
    neither voids nor refunds it, the server keeps it past the session's end, and once cupsd answers the
    kiosk reports what came out: printed (the fee kept) or cancelled (voided, refunded once, never on
    paper)."""
    with private_cups(stack, "doubt") as cups:
        queue = cups.queue("pdf")
        cups.lp("cupsdisable", queue)  # the job waits in the queue, as behind a printer warming up
        folder = tmp_path / "terminal"
        app = terminal(stack, cups, card, folder, "--print-timeout-s", "3", "--doubt-retry-s", "1")
        serial = to_ready(app)["certificates"][0]["serial"]
        app.act("print")
        wait_until(lambda: print_job_handed_over(folder, serial), "the print job in CUPS")
        cups.stop_daemon()
        state = app.wait_step("take_card", timeout_s=60)
        assert state["message"]["code"] == "print_in_doubt" and state["message"]["params"]["serial"] == serial
        row = issuance(stack, serial)  # the session has ended: it would have voided an ordinary one
        assert (row["status"], row["refunded_yen"]) == ("issued", 0)
        assert app.ledger()["taken_yen"] == FEE and app.ledger()["refunded_yen"] == 0
        cups.start_daemon()
        if came_out:
            cups.lp("cupsenable", queue)
        wait_until(lambda: issuance(stack, serial)["status"] != "issued", "the doubt settled", 60)
        row = issuance(stack, serial)
        refund = 0 if came_out else FEE
        assert (row["status"], row["refunded_yen"]) == ("printed" if came_out else "voided", refund)
        wait_until(lambda: app.ledger()["refunded_yen"] == refund, "the device's refund")
        expected = f"prints in doubt: {int(came_out)} printed, {int(not came_out)} not printed, {refund} yen"
        # the kiosk says it once the server has its report: the row may change a moment before the line
        wait_until(lambda: expected in stack.services["kiosk_app"].output(), f"the kiosk saying {expected!r}")
        if not came_out:
            cups.lp("cupsenable", queue)  # the printer back in service prints nothing of a voided certificate
            time.sleep(2)
        wait_until(lambda: len(cups.printed(serial)) == int(came_out), "the printer's output", 30)
        assert len(cups.printed(serial)) == int(came_out) and app.ledger()["refunded_yen"] == refund


def test_pcscd_stopped_after_payment_still_prints_and_the_kiosk_serves_once_it_is_back(
    stack: Stack, cups: CupsServer, card: Path, tmp_path: Path
) -> None:
    """The reader's service dies after payment: the card was needed only until the PIN, so the resident still
    prints what they paid for (nothing voided, nothing refunded); pcscd back, the same kiosk app serves the
    next resident. A pcscd of the test's own (tests/e2e/private_pcscd.py): the machine's and every other
    test's go on."""
    pcscd = PrivatePcscd(tmp_path / "pcscd", stack.logs)
    pcscd.start()
    inserted = Service(
        "card-private", ["devices.card.cli", "run", str(card), "--port", str(pcscd.port)], stack.logs
    )
    try:
        inserted.wait_log("inserted")
        url = stack.start_kiosk_app(
            free_port(), "--reader", pcscd.reader, "--printer", cups.queue("pdf"), "--cups-server", cups.socket,
            "--data-dir", str(tmp_path / "terminal"), env=pcscd.env,
        )  # fmt: skip
        app = KioskAppClient(url)
        serial = to_ready(app)["certificates"][0]["serial"]
        pcscd.stop()
        wait_until(lambda: not app.state()["card_present"], "the reader gone", 30)
        app.act("print")
        state = app.wait_step("done", "take_card", timeout_s=60)
        assert (state["step"], state["message"]["code"]) == ("done", "printed"), state
        row = issuance(stack, serial)
        assert (row["status"], row["refunded_yen"]) == ("printed", 0) and len(cups.printed(serial)) == 1
        assert app.ledger()["refunded_yen"] == 0
        app.act("cancel")  # the done screen closed
        pcscd.start()
        wait_until(lambda: app.state()["card_present"], "the card seen again", 30)
        app.wait_step("language", timeout_s=30)
        second = to_ready(app)["certificates"][0]["serial"]
        app.act("print")
        assert app.wait_step("take_card", timeout_s=60)["message"]["code"] == "printed"
        assert issuance(stack, second)["status"] == "printed" and len(cups.printed(second)) == 1
        assert app.ledger()["taken_yen"] == 2 * FEE and app.ledger()["refunded_yen"] == 0
    finally:
        stack.stop_kiosk_app()
        inserted.stop()
        pcscd.stop()


def test_after_every_crash_of_this_module_the_audit_chain_verifies(stack: Stack) -> None:
    """Last in the module (pytest keeps the file's order): the kiosk apps killed, cupsd and pcscd stopped
    above left the server's audit trail whole."""
    result = stack.ops("audit-verify")
    assert result.returncode == 0, result.stdout + result.stderr
