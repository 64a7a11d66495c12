"""The kiosk's journal and what the next start makes of it (kiosk.journal, kiosk.unfinished), with the fake
server of the engine tests and the simulated payment device keeping its ledger in a file: a kiosk that died
at each point of a session is finished exactly once, never refunding twice nor keeping what was not
printed. (The same across real processes, SIGKILL and all: tests/e2e/test_kiosk_crash_e2e.py.)"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from kiosk.engine import KioskEngine
from kiosk.journal import Journal
from kiosk.payment import SimulatedPaymentDevice
from kiosk.session_steps import Step
from kiosk.unfinished import finish_unfinished
from tests.kiosk.test_engine import ISSUING_KEY, FakeCard, FakePrinter, FakeServer, settle, to_confirm
from wire.http_json import HttpError

FEE = 200


def device(folder: Path) -> SimulatedPaymentDevice:
    return SimulatedPaymentDevice(ledger_file=folder / "payment-device.json")


async def died_at(folder: Path, server: FakeServer, point: str) -> None:
    """A session on a kiosk whose process dies at ``point`` (nothing after it runs; the files stay)."""
    journal, pay = Journal(folder / "journal.sqlite3"), device(folder)
    session = await server.open_session()
    quote = await server.quote(session["session_id"], "juminhyo")
    order, sid = quote["quote_id"], session["session_id"]
    journal.paying(sid, order, FEE)
    result = await pay.pay(FEE, order)
    assert result.reference is not None
    if point == "paid_before_journal":
        return  # the device took the money; the journal knows only the order
    journal.paid(order, result.reference)
    if point == "paid":
        return
    answer = await server.issue(sid, order, result.reference)
    [cert] = answer["certificates"]
    journal.issued(order, [(cert["serial"], FEE)])
    if point == "issued":
        return
    journal.printing(cert["serial"])
    if point == "printing":
        return  # died before the printer said it had the job
    journal.print_job(cert["serial"], "job-7")
    if point.startswith("printing"):
        return
    journal.printed(cert["serial"], point != "print_failed")
    if point in ("printed", "print_failed"):
        return
    await server.report_print(sid, cert["serial"], True)
    journal.reported(cert["serial"])
    assert point == "reported"


@pytest.mark.parametrize(
    ("point", "refunded", "reports"),
    [
        ("paid_before_journal", FEE, []),  # the server never heard of the payment: all of it back
        ("paid", FEE, []),
        ("issued", FEE, []),  # the end of the session voids it
        ("printing", FEE, [("S1", False)]),  # no job reference kept: the queue's unfinished jobs cancelled
        ("printing_failed", FEE, [("S1", False)]),  # the printer has the job; it did not come out
        ("printing_completed", 0, [("S1", True)]),  # the job came out after the kiosk died
        ("print_failed", FEE, [("S1", False)]),
        ("printed", 0, [("S1", True)]),  # the resident has it: reported, kept
        ("reported", 0, []),
    ],
)
async def test_a_kiosk_that_died_is_finished_once_at_its_next_start(
    tmp_path: Path, point: str, refunded: int, reports: list[tuple[str, bool]]
) -> None:
    server = FakeServer()
    await died_at(tmp_path, server, point)
    if point == "reported":
        server.reports.clear()  # reported before it died: not again
    journal, pay = Journal(tmp_path / "journal.sqlite3"), device(tmp_path)  # the next start
    printer = FakePrinter()
    printer.completed = {"job-7"} if point == "printing_completed" else set()
    finished = await finish_unfinished(journal, server, pay, printer)
    assert (finished.sessions, finished.refunded_yen, finished.owed_yen) == (1, refunded, 0)
    assert server.reports == reports and server.ended == 1
    assert pay.totals() == (FEE, refunded) and journal.open_sessions() == []
    again = await finish_unfinished(Journal(tmp_path / "journal.sqlite3"), server, device(tmp_path), printer)
    assert again.sessions == 0 and device(tmp_path).totals() == (FEE, refunded)  # nothing twice


async def test_a_refund_given_just_before_the_kiosk_died_is_not_given_again(tmp_path: Path) -> None:
    server = FakeServer()
    await died_at(tmp_path, server, "issued")
    [(reference, _)] = device(tmp_path).ledger.items()
    await device(tmp_path).refund(reference, FEE)  # the device gave it back; the kiosk died before noting it
    finished = await finish_unfinished(
        Journal(tmp_path / "journal.sqlite3"), server, device(tmp_path), FakePrinter()
    )
    assert finished.refunded_yen == 0 and device(tmp_path).totals() == (FEE, FEE)


async def test_a_server_out_of_reach_leaves_the_session_for_the_next_start(tmp_path: Path) -> None:
    server = FakeServer()
    await died_at(tmp_path, server, "printed")
    lost = HttpError(0, "server_unreachable", "")
    server.fail["report_print"] = [lost]
    first = await finish_unfinished(
        Journal(tmp_path / "journal.sqlite3"), server, device(tmp_path), FakePrinter()
    )
    assert (first.sessions, first.left_open) == (0, 1) and server.ended == 0
    second = await finish_unfinished(
        Journal(tmp_path / "journal.sqlite3"), server, device(tmp_path), FakePrinter()
    )
    assert (second.sessions, second.refunded_yen) == (1, 0) and server.reports == [("S1", True)]


async def test_a_refund_the_device_cannot_give_stays_owed_and_open(tmp_path: Path) -> None:
    server = FakeServer()
    await died_at(tmp_path, server, "issued")
    broken = device(tmp_path)

    async def fails(reference: str, amount_yen: int) -> None:
        raise OSError("coin hopper empty")

    broken.refund = fails  # type: ignore[method-assign]
    journal = Journal(tmp_path / "journal.sqlite3")
    finished = await finish_unfinished(journal, server, broken, FakePrinter())
    assert (finished.refunded_yen, finished.owed_yen) == (0, FEE) and len(journal.open_sessions()) == 1


async def test_the_journal_and_the_device_ledger_are_private_files_that_outlive_the_process(
    tmp_path: Path,
) -> None:
    paid = await device(tmp_path).pay(FEE, "q1")
    assert device(tmp_path).ledger[str(paid.reference)].order == "q1"  # read back by another instance
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.paying("s1", "q1", FEE)
    journal.paid("q1", "SIM-1")
    journal.issued("q1", [("S1", FEE), ("S2", FEE)])
    journal.printed("S1", True)
    journal.close()
    [session] = Journal(tmp_path / "journal.sqlite3").open_sessions()
    [payment] = session.payments
    assert (session.session_id, payment.order_id, payment.reference) == ("s1", "q1", "SIM-1")
    assert [(c.serial, c.state, c.reported) for c in payment.certificates] == [
        ("S1", "printed", False),
        ("S2", "issued", False),
    ]
    assert stat.S_IMODE((tmp_path / "journal.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "payment-device.json").stat().st_mode) == 0o600


async def test_a_whole_session_leaves_nothing_open_in_the_journal(tmp_path: Path) -> None:
    server, pay = FakeServer(), device(tmp_path)
    journal = Journal(tmp_path / "journal.sqlite3")
    engine = KioskEngine(
        server,  # type: ignore[arg-type]
        FakeCard(),
        FakePrinter(),
        pay,
        ISSUING_KEY.public_key(),
        journal=journal,
        retry_pause_s=0,
    )
    await to_confirm(engine)
    await engine.pay()
    state: dict[str, Any] = await settle(engine, Step.READY)
    [open_session] = journal.open_sessions()
    assert [c.state for p in open_session.payments for c in p.certificates] == ["issued"]
    assert state["certificates"][0]["serial"] == "S1"
    await engine.start_print()
    await settle(engine, Step.TAKE_CARD)
    assert journal.open_sessions() == [] and pay.totals() == (FEE, 0)
    assert device(tmp_path).totals() == (FEE, 0)  # the device's own file says the same


def test_a_journal_from_before_prints_in_doubt_takes_them_and_keeps_its_lines(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "journal.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE payments (order_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, amount_yen INTEGER NOT NULL,
                               reference TEXT);
        CREATE TABLE certificates (serial TEXT PRIMARY KEY, order_id TEXT NOT NULL REFERENCES payments (order_id),
            fee_yen INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('issued', 'printing', 'printed', 'not_printed')),
            job TEXT, reported INTEGER NOT NULL DEFAULT 0);
        INSERT INTO payments VALUES ('q1', 's1', 200, 'ref-1');
        INSERT INTO certificates VALUES ('S1', 'q1', 200, 'printing', 'job-3', 0);
        """
    )
    old.close()
    journal = Journal(path)
    journal.in_doubt("S1")
    [session] = journal.open_sessions()
    [cert] = session.payments[0].certificates
    assert (cert.serial, cert.state, cert.job, cert.fee_yen) == ("S1", "in_doubt", "job-3", 200)
    assert [(d.serial, d.job) for d in journal.doubts()] == [("S1", "job-3")]
