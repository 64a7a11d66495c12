"""Prints in doubt (kiosk.doubts): the printer stopped answering with the job. The kiosk keeps the fee and the
server keeps the certificate until the printer answers, then reports what came out and refunds once; never a
voided certificate on paper, never a fee kept for nothing. (Across real processes, cupsd stopped mid-job:
tests/e2e/test_kiosk_crash_e2e.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

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


def journaled_kiosk(server: FakeServer, printer: FakePrinter, journal: Journal, folder: Path) -> KioskEngine:
    """The engine with the fake server and printer, a journal and a device keeping its ledger in ``folder``."""
    return KioskEngine(
        server,  # type: ignore[arg-type]
        FakeCard(),
        printer,
        device(folder),
        ISSUING_KEY.public_key(),
        journal=journal,
        retry_pause_s=0,
    )


async def in_doubt_at_the_kiosk(folder: Path, copies: int = 2) -> tuple[FakeServer, FakePrinter, Journal]:
    """A visit of ``copies`` copies whose first job the printer took and then went silent."""
    server, printer, journal = FakeServer(), FakePrinter(), Journal(folder / "journal.sqlite3")
    printer.outcomes = [None]
    engine = journaled_kiosk(server, printer, journal, folder)
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
    assert "take the page back" in caplog.text


async def test_a_doubt_the_server_voided_meanwhile_is_still_cancelled_and_refunded_once(
    tmp_path: Path,
) -> None:
    """The kiosk's mark never reached the server, whose sweep voided the certificate: the job is still
    cancelled when the printer answers, and the device gives back what the server refunded."""
    server, printer, journal = await in_doubt_at_the_kiosk(tmp_path)
    ref, _ = server.serials["S1"]
    server.serials["S1"] = (ref, "voided")
    server.payments[ref]["refunded"] += FEE  # the sweep's refund
    with journal._db:  # as if the mark had never been answered
        journal._db.execute("UPDATE doubts SET reported = 0")
    printer.answering = True
    settled = await settle_doubts(journal, server, device(tmp_path), printer)
    assert printer.asked[-1] == ("job-1", "S1")  # asked, so a job still waiting is cancelled
    assert (settled.not_printed, settled.refunded_yen) == (1, FEE) and journal.doubts() == []
    assert device(tmp_path).totals() == (2 * FEE, 2 * FEE)


@pytest.mark.parametrize("status", [401, 403, 429, 500])
async def test_a_doubt_the_server_will_not_take_now_waits_for_the_next_round(
    tmp_path: Path, status: int
) -> None:
    server, printer, journal = await in_doubt_at_the_kiosk(tmp_path)
    printer.answering = True
    server.fail["report_doubt"] = [HttpError(status, "not_now", "")]
    first = await settle_doubts(journal, server, device(tmp_path), printer)
    assert first.still_in_doubt == 1 and len(journal.doubts()) == 1
    assert server.serials["S1"][1] == "in_doubt"


async def test_no_doubt_is_settled_while_a_resident_is_at_the_kiosk(tmp_path: Path) -> None:
    server, printer, journal = await in_doubt_at_the_kiosk(tmp_path)
    printer.answering = True
    busy = await settle_doubts(journal, server, device(tmp_path), printer, idle=lambda: False)
    assert busy.still_in_doubt == 1 and printer.asked == [] and device(tmp_path).totals() == (2 * FEE, FEE)


async def test_a_mark_the_server_never_answered_leaves_the_session_open_until_it_is_kept(
    tmp_path: Path,
) -> None:
    """Ending the session would void a certificate the printer may still print: the kiosk leaves it open,
    and finishing it later marks the doubt first, then ends it keeping the fee."""
    server = FakeServer()
    server.fail["report_doubt"] = [HttpError(500, "internal", "")] * 8
    printer, journal = FakePrinter(), Journal(tmp_path / "journal.sqlite3")
    printer.outcomes = [None]
    engine = journaled_kiosk(server, printer, journal, tmp_path)
    await to_confirm(engine)
    await engine.pay()
    await settle(engine, Step.READY)
    await engine.start_print()
    state = await settle(engine, Step.TAKE_CARD)
    assert state["message"]["code"] == "print_in_doubt" and state["refunded_yen"] == 0
    assert server.ended == 0 and server.serials["S1"][1] == "issued" and len(journal.open_sessions()) == 1
    server.fail.clear()
    finished = await finish_unfinished(journal, server, device(tmp_path), printer)
    assert (finished.sessions, finished.refunded_yen) == (1, 0) and server.ended == 1
    assert server.serials["S1"][1] == "in_doubt" and device(tmp_path).totals() == (FEE, 0)
    assert [d.serial for d in journal.doubts()] == ["S1"] and journal.open_sessions() == []


async def test_a_kiosk_stopped_while_it_prints_leaves_the_session_for_the_printer_to_answer(
    tmp_path: Path,
) -> None:
    server, printer, journal = FakeServer(), FakePrinter(), Journal(tmp_path / "journal.sqlite3")
    engine = journaled_kiosk(server, printer, journal, tmp_path)
    started = asyncio.Event()

    async def prints_forever(pdf: bytes, title: str, accepted: Any = None) -> Any:
        accepted("job-9")
        started.set()
        await asyncio.sleep(3600)

    printer.print_pdf = prints_forever  # type: ignore[method-assign]
    await to_confirm(engine)
    await engine.pay()
    await settle(engine, Step.READY)
    await engine.start_print()
    await started.wait()
    await engine.close()  # the kiosk is stopped with the job at the printer
    assert server.ended == 0 and server.serials["S1"][1] == "issued" and device(tmp_path).totals() == (FEE, 0)
    printer.completed = {"job-9"}  # it came out
    finished = await finish_unfinished(journal, server, device(tmp_path), printer)
    assert printer.asked == [("job-9", "S1")] and server.serials["S1"][1] == "printed"
    assert finished.refunded_yen == 0 and device(tmp_path).totals() == (FEE, 0)


async def test_a_session_the_server_forgot_keeps_what_was_printed_or_is_in_doubt(tmp_path: Path) -> None:
    server = FakeServer()
    await died_at(tmp_path, server, "printed")
    server.fail["end_session"] = [HttpError(404, "session_unknown", "")]
    finished = await finish_unfinished(
        Journal(tmp_path / "journal.sqlite3"), server, device(tmp_path), FakePrinter()
    )
    assert finished.refunded_yen == 0 and device(tmp_path).totals() == (FEE, 0)
