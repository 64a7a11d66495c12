"""Prints in doubt (kiosk.doubts): the printer stopped answering with the job. The kiosk keeps the fee and the
server keeps the certificate until the printer answers, then reports what came out and refunds once; never a
voided certificate on paper, never a fee kept for nothing. (Across real processes, cupsd stopped mid-job:
tests/e2e/test_kiosk_crash_e2e.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.doubts import settle_doubts
from kiosk.engine import KioskEngine
from kiosk.journal import Journal
from kiosk.payment import SimulatedPaymentDevice
from kiosk.session_steps import Step
from kiosk.unfinished import finish_unfinished
from tests.kiosk.test_engine import ISSUING_KEY, FakeCard, FakePrinter, FakeServer, settle, to_confirm
from tests.kiosk.test_unfinished import FEE, died_at
from wire.http_json import HttpError


def device(folder: Path) -> SimulatedPaymentDevice:
    return SimulatedPaymentDevice(ledger_file=folder / "payment-device.json")


async def in_doubt_at_the_kiosk(folder: Path, copies: int = 2) -> tuple[FakeServer, FakePrinter, Journal]:
    """A visit of ``copies`` copies whose first job the printer took and then went silent."""
    server, printer, journal = FakeServer(), FakePrinter(), Journal(folder / "journal.sqlite3")
    printer.outcomes = [None]
    engine = KioskEngine(
        server,  # type: ignore[arg-type]
        FakeCard(),
        printer,
        device(folder),
        ISSUING_KEY.public_key(),
        journal=journal,
        retry_pause_s=0,
    )
    await to_confirm(engine)
    await engine.back()
    await engine.choose({"scope": "self", "copies": copies})
    await settle(engine, Step.CONFIRM)
    await engine.pay()
    await settle(engine, Step.READY)
    await engine.start_print()
    state = await settle(engine, Step.TAKE_CARD)
    assert state["message"]["code"] == "print_in_doubt" and state["message"]["params"]["serial"] == "S1"
    assert printer.jobs == 1  # nothing more went to a printer that stopped answering
    return server, printer, journal


async def test_a_print_in_doubt_keeps_its_fee_and_the_server_keeps_the_certificate(tmp_path: Path) -> None:
    server, _, journal = await in_doubt_at_the_kiosk(tmp_path)
    assert server.serials["S1"][1] == "in_doubt"  # the session's end did not void it
    assert server.serials["S2"][1] == "voided"  # the copy never sent to the printer is voided
    assert device(tmp_path).totals() == (2 * FEE, FEE)  # its fee refunded, the one in doubt kept
    [doubt] = journal.doubts()
    assert (doubt.serial, doubt.job, doubt.reported) == ("S1", "job-1", True)
    assert journal.open_sessions() == []  # the session is settled; the doubt outlives it


@pytest.mark.parametrize(("came_out", "refunded"), [(True, 0), (False, FEE)])
async def test_once_the_printer_answers_the_doubt_is_settled_once(
    tmp_path: Path, came_out: bool, refunded: int
) -> None:
    server, printer, journal = await in_doubt_at_the_kiosk(tmp_path)
    silent = await settle_doubts(journal, server, device(tmp_path), printer)
    assert silent.still_in_doubt == 1 and len(journal.doubts()) == 1 and server.doubt_reports == []
    printer.answering = True
    printer.completed = {"job-1"} if came_out else set()
    settled = await settle_doubts(journal, server, device(tmp_path), printer)
    assert (settled.printed, settled.not_printed, settled.refunded_yen) == (
        int(came_out),
        int(not came_out),
        refunded,
    )
    assert server.doubt_reports == [("S1", came_out)] and journal.doubts() == []
    assert server.serials["S1"][1] == ("printed" if came_out else "voided")
    assert device(tmp_path).totals() == (2 * FEE, FEE + refunded)
    again = await settle_doubts(journal, server, device(tmp_path), printer)
    assert not again.anything and device(tmp_path).totals() == (2 * FEE, FEE + refunded)


async def test_a_doubt_settled_while_the_server_is_out_of_reach_waits_for_the_next_round(
    tmp_path: Path,
) -> None:
    server, printer, journal = await in_doubt_at_the_kiosk(tmp_path)
    printer.answering = True
    server.fail["report_doubt"] = [HttpError(0, "server_unreachable", "")]
    first = await settle_doubts(journal, server, device(tmp_path), printer)
    assert first.still_in_doubt == 1 and len(journal.doubts()) == 1
    second = await settle_doubts(journal, server, device(tmp_path), printer)
    assert second.not_printed == 1 and device(tmp_path).totals() == (2 * FEE, 2 * FEE)


async def test_a_kiosk_that_died_while_printing_and_finds_the_printer_silent_keeps_the_doubt(
    tmp_path: Path,
) -> None:
    """The next start cannot learn the job's end: the server keeps the certificate before the session's end
    could void it, and the fee stays until the printer answers."""
    server = FakeServer()
    await died_at(tmp_path, server, "printing_job")
    printer, journal = FakePrinter(), Journal(tmp_path / "journal.sqlite3")
    printer.answering = False
    finished = await finish_unfinished(journal, server, device(tmp_path), printer)
    assert (finished.sessions, finished.refunded_yen) == (1, 0) and server.ended == 1
    assert server.serials["S1"][1] == "in_doubt" and journal.open_sessions() == []
    assert [d.serial for d in journal.doubts()] == ["S1"] and device(tmp_path).totals() == (FEE, 0)
    printer.answering = True  # the job was purged when the printer service came back empty
    settled = await settle_doubts(journal, server, device(tmp_path), printer)
    assert settled.not_printed == 1 and device(tmp_path).totals() == (FEE, FEE)
    assert server.serials["S1"][1] == "voided"


async def test_a_page_that_came_out_for_a_certificate_the_server_voided_is_an_error_for_people(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, printer, journal = await in_doubt_at_the_kiosk(tmp_path)
    ref, _ = server.serials["S1"]
    server.serials["S1"] = (ref, "voided")  # e.g. voided by hand at the city hall meanwhile
    printer.answering = True
    printer.completed = {"job-1"}
    settled = await settle_doubts(journal, server, device(tmp_path), printer)
    assert settled.refused == 1 and journal.doubts() == [] and device(tmp_path).totals() == (2 * FEE, FEE)
    assert "settle it by hand" in caplog.text
