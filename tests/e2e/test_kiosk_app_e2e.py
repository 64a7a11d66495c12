"""The kiosk app across the real parts: pcscd + vpcd with the virtual card (inserted and removed here),
registry_sim and the server as processes, a private cupsd with a virtual PDF printer and failing queues,
and the simulated payment device; driven through the app's local interface as its page would."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kiosk.catalogue import catalogue
from konbini_demo.cups import CupsServer
from konbini_demo.kiosk_app_client import KioskAppClient
from konbini_demo.processes import free_port
from konbini_demo.stack import Stack
from registry_sim.generator import DEMO_ATENA_NO
from tests.e2e.conftest import PUBLIC_SITE
from tests.e2e.kiosk_proxy import LosingProxy
from tests.e2e.stacks import card_taken, change_upstream, registered_card
from wire.cert_qr import extract_record_text
from wire.http_json import HttpError
from wire.kiosk_api import ASK_AT_CITY_HALL

pytestmark = pytest.mark.e2e
PIN = "8642"
FEE = 200


@pytest.fixture(scope="module")
def resident_card(stack: Stack) -> Path:
    """The demo resident's card, registered with this module's PIN."""
    return registered_card(stack, PIN, "kiosk-app-resident")


@pytest.fixture
def card_in(stack: Stack, resident_card: Path) -> Path:
    """The resident's card in the reader at the start of each test (tests pull it)."""
    card = stack.services.get("card")
    if card is None or str(resident_card) not in card.args:
        stack.insert_card(resident_card)
    return resident_card


def kiosk_app(stack: Stack, cups: CupsServer, queue: str = "pdf", *extra: str) -> KioskAppClient:
    url = stack.start_kiosk_app(
        free_port(),
        "--printer",
        cups.queue(queue),
        "--cups-server",
        cups.socket,
        "--print-timeout-s",
        "20",
        *extra,
    )
    return KioskAppClient(url)


def to_menu(app: KioskAppClient, language: str = "en") -> dict[str, Any]:
    app.act("language", {"language": language})
    app.wait_step("pin")
    app.act("pin", {"pin": PIN})
    state = app.wait_step("menu", "pin", "take_card")
    assert state["step"] == "menu", state["message"]
    return state


def to_ready(app: KioskAppClient, kind: str = "juminhyo", **choices: Any) -> dict[str, Any]:
    to_menu(app)
    app.act("select", {"kind": kind})
    app.act("options", choices)
    assert app.wait_step("confirm", "options")["step"] == "confirm"
    app.act("pay")
    state = app.wait_step("ready", "confirm", "menu", "take_card")
    assert state["step"] == "ready", state["message"]
    return state


def server_db(stack: Stack) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{stack.server_dir / 'konbini.sqlite3'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def issuance(stack: Stack, serial: str) -> sqlite3.Row:
    with server_db(stack) as conn:
        return conn.execute(
            "SELECT i.status, i.refund_yen, p.total_yen, p.refunded_yen, p.status AS payment_status"
            " FROM issuances i JOIN kiosk_payments p ON p.quote_id = i.payment_id WHERE i.serial = ?",
            (serial,),
        ).fetchone()


KINDS: list[tuple[str, dict[str, Any]]] = [
    ("juminhyo", {"scope": "self", "options": ["householder"]}),
    ("juminhyo", {"scope": "household"}),
    ("juminhyo", {"scope": "members"}),
    ("inkan", {}),
    ("tax_income", {}),
    ("tax_status", {}),
    ("tax_income_assessment", {}),
    ("tax_payment", {}),
]


def test_a_resident_gets_every_kind_through_the_kiosk_app(
    stack: Stack, cups: CupsServer, card_in: Path
) -> None:
    app = kiosk_app(stack, cups)
    for kind, choices in KINDS:
        state = to_menu(app)
        item = next(i for i in state["menu"] if i["kind"] == kind)
        if "fiscal_years" in item:
            choices = {"fiscal_year": next(y["fiscal_year"] for y in item["fiscal_years"] if y["available"])}
        if choices.get("scope") == "members":
            choices = {**choices, "members": [m["member_id"] for m in item["members"][:2]]}
        app.act("select", {"kind": kind})
        quote = app.act("options", {**choices, "copies": 1})
        quote = app.wait_step("confirm")["quote"]
        assert quote["total_yen"] == FEE
        app.act("pay")
        app.wait_step("ready")
        app.act("print")
        done = app.wait_step("take_card", timeout_s=60)
        assert done["message"]["code"] == "printed", done["message"]
        serial = done["certificates"][0]["serial"]
        [printed] = cups.printed(serial)
        assert extract_record_text(printed).startswith(f"{PUBLIC_SITE}/verify/KB2.")  # a phone opens the page
        verdict = stack.verify(printed)  # the QR survives cups-pdf's Ghostscript pass, and verifies offline
        assert verdict.returncode == 0 and verdict.stdout.startswith("VALID"), verdict.stdout + verdict.stderr
        row = issuance(stack, serial)
        assert row["status"] == "printed" and row["refunded_yen"] == 0 and row["payment_status"] == "issued"
        assert card_taken(stack, app)["menu"] is None  # nothing of the resident is left
        stack.insert_card(card_in)
    assert app.ledger() == {"waiting": False, "taken_yen": FEE * len(KINDS), "refunded_yen": 0}


def test_a_step_skipped_by_a_crafted_request_is_refused(
    stack: Stack, cups: CupsServer, card_in: Path
) -> None:
    app = kiosk_app(stack, cups)
    with pytest.raises(HttpError) as exc:
        app.act("pin", {"pin": PIN})  # before the language and the card
    assert exc.value.status == 409 and exc.value.code == "step_out_of_order"
    app.act("language", {"language": "en"})
    app.wait_step("pin")
    for action, body in (("select", {"kind": "juminhyo"}), ("pay", {}), ("print", {})):
        with pytest.raises(HttpError) as exc:
            app.act(action, body)  # menu, payment and printing before the PIN
        assert exc.value.code == "step_out_of_order"
    app.act("pin", {"pin": PIN})
    app.wait_step("menu")
    with pytest.raises(HttpError) as exc:
        app.act("pay")  # paying before a quote
    assert exc.value.code == "step_out_of_order"
    app.act("select", {"kind": "juminhyo"})
    with pytest.raises(HttpError) as exc:
        app.act("options", {"scope": "household", "options": ["kojin_bango"]})  # not offered at kiosks
    assert exc.value.status == 400 and exc.value.code == "bad_choice"
    app.act("cancel")
    assert app.wait_step("take_card")["message"]["code"] == "cancelled"


def test_only_the_local_page_may_use_the_interface(stack: Stack, cups: CupsServer, card_in: Path) -> None:
    app = kiosk_app(stack, cups)

    def post(headers: dict[str, str]) -> int:
        req = urllib.request.Request(
            f"{app.base_url}/api/language", data=b'{"language": "en"}', headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(req) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return int(err.code)

    assert post({}) == 403  # no Origin: not the page
    assert post({"Origin": "http://evil.example"}) == 403  # another site's page in the same browser
    assert post({"Origin": app.base_url, "Host": "evil.example"}) == 403  # DNS rebinding
    assert app.state()["step"] == "language"  # none of them moved the session
    assert post({"Origin": app.base_url}) == 200


def test_the_card_pulled_at_the_pin_ends_the_session_in_its_language(
    stack: Stack, cups: CupsServer, card_in: Path
) -> None:
    app = kiosk_app(stack, cups, "pdf", "--farewell-s", "1")
    app.act("language", {"language": "vi"})
    app.wait_step("pin")
    stack.remove_card()
    state = app.wait_step("done", timeout_s=10)
    assert state["message"]["code"] == "card_removed" and state["language"] == "vi"
    assert state["message_text"].startswith(catalogue("vi")["msg.card_removed"])
    state = app.wait_step("language", timeout_s=10)  # then cleared, for the next person
    assert state["message"] is None and state["language"] == "ja"


def test_walking_away_after_paying_voids_and_refunds_once(
    stack: Stack, cups: CupsServer, card_in: Path
) -> None:
    app = kiosk_app(stack, cups, "pdf", "--card-out-idle-s", "3")
    state = to_ready(app)
    serial = state["certificates"][0]["serial"]
    stack.remove_card()  # taken back after the PIN, as the screen asks: the session goes on
    deadline = time.monotonic() + 10
    while (state := app.state())["card_present"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state["step"] == "ready" and state["message"] is None and not state["card_present"]
    assert state["idle_s_left"] <= 3
    state = app.wait_step("done", timeout_s=20)  # nobody touches the screen: the shorter idle limit
    assert state["message"]["code"] == "timed_out" and state["message"]["params"]["refunded_yen"] == FEE
    row = issuance(stack, serial)
    assert row["status"] == "voided" and row["refund_yen"] == FEE
    assert (
        row["refunded_yen"] == row["total_yen"] == FEE and row["payment_status"] == "issued"
    )  # recorded once
    assert app.ledger()["refunded_yen"] == app.ledger()["taken_yen"] == FEE
    assert cups.printed(serial) == []  # nothing printed


def test_a_cancelled_payment_issues_nothing(stack: Stack, cups: CupsServer, card_in: Path) -> None:
    app = kiosk_app(stack, cups)
    with server_db(stack) as conn:
        before = conn.execute("SELECT count(*) FROM issuances").fetchone()[0]
    to_menu(app)
    app.act("select", {"kind": "inkan"})
    app.act("options", {})
    app.wait_step("confirm")
    for outcome in ("cancelled", "insufficient", "device_error"):
        app.payment_outcome(outcome)
        app.act("pay")
        state = app.wait_step("confirm", "ready")
        assert state["step"] == "confirm" and state["message"]["code"] == f"payment_{outcome}"
    with server_db(stack) as conn:
        assert conn.execute("SELECT count(*) FROM issuances").fetchone()[0] == before
    assert app.ledger()["taken_yen"] == 0


@pytest.mark.parametrize("queue", ["jam", "stuck", "offline", "rejecting"])
def test_a_print_failure_voids_and_refunds(stack: Stack, cups: CupsServer, card_in: Path, queue: str) -> None:
    app = kiosk_app(stack, cups, queue, "--print-timeout-s", "2")
    serial = to_ready(app)["certificates"][0]["serial"]
    app.act("print")
    state = app.wait_step("take_card", timeout_s=30)
    assert state["message"]["code"] == "print_failed" and state["message"]["params"]["refunded_yen"] == FEE
    row = issuance(stack, serial)
    assert row["status"] == "voided" and row["refunded_yen"] == FEE
    assert app.ledger()["refunded_yen"] == app.ledger()["taken_yen"] == FEE


def test_a_retried_issue_after_a_lost_answer_neither_issues_nor_charges_twice(
    stack: Stack, cups: CupsServer, card_in: Path
) -> None:
    proxy = LosingProxy(stack)
    app = kiosk_app(stack, cups, "pdf", "--server", proxy.url)
    state = to_ready(app, copies=1)
    assert proxy.lost == 1 and proxy.issue_requests == 2
    [cert] = state["certificates"]
    app.act("print")
    assert app.wait_step("take_card", timeout_s=60)["message"]["code"] == "printed"
    with server_db(stack) as conn:
        quote_id = conn.execute(
            "SELECT payment_id FROM issuances WHERE serial = ?", (cert["serial"],)
        ).fetchone()[0]
        assert (
            conn.execute("SELECT count(*) FROM issuances WHERE payment_id = ?", (quote_id,)).fetchone()[0]
            == 1
        )
    assert app.ledger() == {"waiting": False, "taken_yen": FEE, "refunded_yen": 0}
    assert len(cups.printed(cert["serial"])) == 1


def test_the_kiosk_app_never_learns_a_support_measure(stack: Stack, cups: CupsServer, card_in: Path) -> None:
    registry = stack.registry()
    person = registry.call("GET", f"/records/resident/{DEMO_ATENA_NO}")
    flagged = {**person, "support_measure": 1, "version": person["version"] + 1}
    registry.call("POST", "/control/apply", {"changes": [{"op": "upsert", "record": flagged}]})
    try:
        app = kiosk_app(stack, cups)
        deadline = time.monotonic() + 15
        while True:  # until the replica has the change
            state = to_menu(app)
            if all(not i["available"] for i in state["menu"]) or time.monotonic() > deadline:
                break
            app.act("cancel")
            app.wait_step("take_card")
            card_taken(stack, app)
            stack.insert_card(card_in)
        assert {i["refusal"]["code"] for i in state["menu"]} == {ASK_AT_CITY_HALL}
        seen = json.dumps(state, ensure_ascii=False)
        app.act("cancel")
        seen += json.dumps(app.wait_step("take_card"), ensure_ascii=False)
        seen += (stack.logs / "kiosk_app.log").read_text()
        assert "support" not in seen and "支援" not in seen
    finally:
        change_upstream(stack, {**person, "version": person["version"] + 2})
