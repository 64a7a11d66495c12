"""The print guard across the real parts: the kiosk app with a resident's card in pcscd + vpcd, the server
and registry_sim as processes, a private cupsd; between the kiosk app and the server a proxy that hands over
the wrong PDF (another resident's certificate, a sheet dropped, sheets of two serials, an earlier PDF of the
same person). Each time nothing is printed, the certificate is voided and refunded once, the screen sends
the resident to the city hall, and the alarm is in the audit trail and in the month's review."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from konbini_demo.cups import CupsServer
from konbini_demo.kiosk_app_client import KioskAppClient
from konbini_demo.processes import free_port
from konbini_demo.soft_kiosk import SoftKiosk, eligible_adults
from konbini_demo.stack import Stack
from tests.e2e.kiosk_proxy import TamperingProxy
from tests.tampered_pdfs import sheet_count, with_sheet_from, without_sheet
from wire.clock import JST

pytestmark = pytest.mark.e2e
PIN = "2580"
FEE = 200
BIG_HOUSEHOLD = 5  # members: a household 住民票 of two sheets


def server_db(stack: Stack) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{stack.server_dir / 'konbini.sqlite3'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def adult_of_a_big_household(stack: Stack) -> str:
    """A resident the kiosk serves whose household 住民票 takes two sheets."""
    replica = next((stack.server_dir / "replica").glob("replica-*.sqlite3"))
    with sqlite3.connect(f"file:{replica}?mode=ro", uri=True) as conn:
        households = {
            no for (no,) in conn.execute(
                "SELECT household_no FROM resident WHERE status = 'resident' GROUP BY household_no"
                " HAVING count(*) >= ?", (BIG_HOUSEHOLD,),
            )
        }  # fmt: skip
        found = [
            atena_no
            for atena_no in eligible_adults(stack, 600)
            if conn.execute("SELECT household_no FROM resident WHERE atena_no = ?", (atena_no,)).fetchone()[0]
            in households
        ]
    assert found, f"the synthetic city has no household of {BIG_HOUSEHOLD} with an adult the kiosk serves"
    return found[0]


@pytest.fixture(scope="module")
def resident(stack: Stack) -> Iterator[Path]:
    """A card of an adult of a big household, registered with this module's PIN (in the reader at each
    test's start)."""
    card = stack.personalise_card("guard-resident", PIN, holder=adult_of_a_big_household(stack))
    stack.insert_card(card)
    stack.register(adult_of_a_big_household(stack), PIN)
    yield card


@pytest.fixture(scope="module")
def proxy(stack: Stack) -> TamperingProxy:
    return TamperingProxy(stack)


def kiosk_app_behind(proxy: TamperingProxy, stack: Stack, cups: CupsServer, resident: Path) -> KioskAppClient:
    """A kiosk app that talks to the server through ``proxy`` (handing over what it gets, for now), the
    resident's card in its reader."""
    card = stack.services.get("card")
    if card is None or str(resident) not in card.args:
        stack.insert_card(resident)
    proxy.tamper = None
    url = stack.start_kiosk_app(
        free_port(), "--printer", cups.queue("pdf"), "--cups-server", cups.socket, "--server", proxy.url
    )
    return KioskAppClient(url)


@pytest.fixture
def app(stack: Stack, cups: CupsServer, resident: Path, proxy: TamperingProxy) -> KioskAppClient:
    return kiosk_app_behind(proxy, stack, cups, resident)


def household_juminhyo_printed(app: KioskAppClient) -> dict[str, Any]:
    """A session for the household 住民票 up to the end of printing: the last screen's state and the serial."""
    app.act("language", {"language": "vi"})
    app.wait_step("pin")
    app.act("pin", {"pin": PIN})
    assert app.wait_step("menu", "pin", "take_card")["step"] == "menu"
    app.act("select", {"kind": "juminhyo"})
    app.act("options", {"scope": "household"})
    assert app.wait_step("confirm", "options")["step"] == "confirm"
    app.act("pay")
    ready = app.wait_step("ready", "confirm", "menu", "take_card")
    assert ready["step"] == "ready", ready["message"]
    [cert] = ready["certificates"]
    app.act("print")
    return {**app.wait_step("take_card", timeout_s=60), "serial": cert["serial"]}


@pytest.fixture(scope="module")
def earlier_pdf(stack: Stack, cups: CupsServer, resident: Path, proxy: TamperingProxy) -> bytes:
    """A genuine household 住民票 of the resident, printed through the proxy untouched (the guard passes
    it): the earlier PDF a replay hands over."""
    end = household_juminhyo_printed(kiosk_app_behind(proxy, stack, cups, resident))
    assert end["message"]["code"] == "printed", end["message"]
    assert len(cups.printed(end["serial"])) == 1
    stack.stop_kiosk_app()
    pdf = proxy.pdfs[end["serial"]]
    assert sheet_count(pdf) == 2
    return pdf


@pytest.fixture(scope="module")
def another_residents_pdf(stack: Stack, resident: Path) -> bytes:
    """A valid certificate of this city for another resident, issued at another session."""
    ours = adult_of_a_big_household(stack)
    other = SoftKiosk(stack, next(a for a in eligible_adults(stack, 10) if a != ours), name="guard-other")
    other.register()
    issued = other.session("juminhyo")
    assert "pdf" in issued, issued
    return bytes(issued["pdf"])


CASES: dict[str, tuple[str, str, int]] = {  # the fixture of the tampering, the finding, the sheet
    "another_residents_certificate": ("another_residents_pdf", "wrong_serial", 1),
    "a_sheet_dropped": ("", "sheets_not_1_to_n", 1),
    "sheets_of_two_serials": ("earlier_pdf", "wrong_serial", 2),
    "an_earlier_pdf_replayed": ("earlier_pdf", "wrong_serial", 1),
}


def tampering(case: str, other: bytes) -> Callable[[str, bytes], bytes]:
    return {
        "another_residents_certificate": lambda serial, pdf: other,
        "a_sheet_dropped": lambda serial, pdf: without_sheet(pdf, 2),
        "sheets_of_two_serials": lambda serial, pdf: with_sheet_from(pdf, other, 2),
        "an_earlier_pdf_replayed": lambda serial, pdf: other,
    }[case]


@pytest.mark.parametrize("case", list(CASES))
def test_the_kiosk_prints_nothing_that_is_not_the_residents_and_refunds_and_alarms_once(
    stack: Stack,
    cups: CupsServer,
    earlier_pdf: bytes,
    another_residents_pdf: bytes,
    app: KioskAppClient,  # after the two above: the earlier PDF's session runs a kiosk app of its own first
    proxy: TamperingProxy,
    case: str,
) -> None:
    source, finding, sheet = CASES[case]
    other = {"earlier_pdf": earlier_pdf, "another_residents_pdf": another_residents_pdf}.get(source, b"")
    proxy.tamper = tampering(case, other)
    end = household_juminhyo_printed(app)
    serial = end["serial"]
    assert end["message"]["code"] == "print_stopped" and end["message"]["params"]["serial"] == serial
    assert end["message"]["params"]["refunded_yen"] == FEE and end["language"] == "vi"
    assert "Tòa thị chính" in end["message_text"]  # in the resident's language: go to the city hall
    assert cups.printed(serial) == []  # nothing printed
    assert app.ledger()["refunded_yen"] == app.ledger()["taken_yen"] == FEE  # the device gave it back once
    with server_db(stack) as conn:
        row = conn.execute(
            "SELECT i.status, i.refund_yen, p.total_yen, p.refunded_yen FROM issuances i"
            " JOIN kiosk_payments p ON p.quote_id = i.payment_id WHERE i.serial = ?",
            (serial,),
        ).fetchone()
        alarms = conn.execute(
            "SELECT at, actor_id, details FROM audit_log WHERE action = 'print_guard' AND details LIKE ?",
            (f'%"{serial}"%',),
        ).fetchall()
    assert row["status"] == "voided" and row["refund_yen"] == row["refunded_yen"] == row["total_yen"] == FEE
    [alarm] = alarms
    assert alarm["actor_id"] == "kiosk-001"
    expected = {"serial": serial, "finding": finding, "sheet": sheet}
    assert expected.items() <= json.loads(alarm["details"]).items()
    month = datetime.fromisoformat(alarm["at"].replace("Z", "+00:00")).astimezone(JST).strftime("%Y-%m")
    review = stack.ops("audit-report", "--month", month).stdout
    assert (
        f"anomaly print_guard: the print guard at kiosk-001 stopped certificate {serial}: {finding}" in review
    )
