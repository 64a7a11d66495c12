"""The kiosk engine's state machine with in-process fakes for the server, card and printer (the real parts
are in tests/e2e/test_kiosk_app_e2e.py): step order, timeouts, card removal, retries and refunds."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices.card.errors import PinBlocked, WrongPin
from devices.printing import PrintResult
from issuance_server.certificates.render import render_certificate
from kiosk.engine import KioskEngine
from kiosk.payment import SimulatedPaymentDevice
from kiosk.session_steps import Step, StepError
from tests.certificates.conftest import request
from wire.http_json import HttpError
from wire.print_guard import Finding, GuardRefused

MENU = [
    {"kind": "juminhyo", "fee_yen": 200, "available": True, "refusal": None,
     "scopes": [{"scope": "self", "available": True}, {"scope": "household", "available": True},
                {"scope": "members", "available": True}],
     "members": [{"member_id": "m1", "name": "x", "relationship": "世帯主"}],
     "options": ["householder", "honseki"]},
    {"kind": "inkan", "fee_yen": 200, "available": False, "refusal": {"code": "ask_at_city_hall", "params": {}}},
]  # fmt: skip


CARD_DER = b"cert"  # what FakeCard reads
ISSUING_KEY = Ed25519PrivateKey.generate()


@cache
def genuine_pdf(serial: str, card_der: bytes = CARD_DER) -> bytes:
    """A one-sheet certificate of ``serial`` for the card ``card_der``, signed with the test's issuing key."""
    tagged = request("inkan", serial=serial, requester_sha256=hashlib.sha256(card_der).digest())
    return render_certificate(tagged, ISSUING_KEY).pdf


class FakeServer:
    """The kiosk API as the engine sees it, keeping the books per payment like the real server;
    ``fail`` maps a method to errors it raises first; ``refuse_next`` refuses the next paid issue."""

    kiosk_id = "kiosk-t"

    def __init__(self) -> None:
        self.fail: dict[str, list[HttpError]] = {}
        self.refuse_next = False
        self.issued: list[str] = []
        self.reports: list[tuple[str, bool]] = []
        self.guard_reports: list[tuple[str, Finding]] = []
        self.pdf_for: Callable[[str], bytes] = genuine_pdf  # what a fetch of a serial hands over
        self.ended = 0
        self.quotes: dict[str, int] = {}
        self.payments: dict[str, dict[str, Any]] = {}  # reference -> paid, refunded, quote
        self.serials: dict[str, tuple[str, str]] = {}  # serial -> (reference, status)
        self.doubt_reports: list[tuple[str, bool]] = []  # prints in doubt settled after their session
        self.blocked_cards: list[bytes] = []  # cards reported with their PIN blocked

    def _maybe_fail(self, name: str) -> None:
        if self.fail.get(name):
            raise self.fail[name].pop(0)

    def _payment(self, ref: str) -> dict[str, Any]:
        p = self.payments[ref]
        return {
            "quote_id": p.get("quote", "q"),
            "payment_reference": ref,
            "paid_yen": p["paid"],
            "refunded_yen": p["refunded"],
        }

    async def open_session(self) -> dict[str, Any]:
        self._maybe_fail("open_session")
        return {"session_id": "s1", "nonce": "n1", "nonce_expires_in_s": 120, "service": "open"}

    async def authenticate(self, *args: Any) -> dict[str, Any]:
        self._maybe_fail("authenticate")
        return {"authenticated": True}

    async def menu(self, session_id: str) -> dict[str, Any]:
        return {"service": "open", "items": MENU}

    async def report_card_blocked(self, session_id: str, cert_der: bytes) -> dict[str, Any]:
        self.blocked_cards.append(cert_der)
        return {"card_id": "c1", "result": "locked", "locked": True}

    async def quote(self, session_id: str, kind: str, copies: int = 1, **choices: Any) -> dict[str, Any]:
        self._maybe_fail("quote")
        quote_id = f"q{len(self.quotes) + 1}"
        self.quotes[quote_id] = copies
        return {
            "quote_id": quote_id,
            "kind": kind,
            "copies": copies,
            "fee_yen": 200,
            "total_yen": 200 * copies,
        }

    async def issue(self, session_id: str, quote_id: str, reference: str) -> dict[str, Any]:
        self.issued.append(reference)  # the request reached the server
        total = 200 * self.quotes[quote_id]
        self.payments.setdefault(reference, {"paid": total, "refunded": 0, "quote": quote_id})
        self._maybe_fail("issue")
        if self.refuse_next:
            self.refuse_next = False
            self.payments[reference]["refunded"] = total
            refusal = {"code": "ask_at_city_hall", "params": {}}
            raise HttpError(403, "refused", "", {"refusal": refusal, "payment": self._payment(reference)})
        known = [c for c, (ref, _) in self.serials.items() if ref == reference]
        if not known:  # a retry gets the first answer
            for _ in range(self.quotes[quote_id]):
                serial = f"S{len(self.serials) + 1}"
                self.serials[serial] = (reference, "issued")
                known.append(serial)
        certs = [{"serial": c, "kind": "juminhyo", "fee_yen": 200, "pages": 1} for c in known]
        return {"certificates": certs, "total_fee_yen": total, "payment": self._payment(reference)}

    async def fetch_pdf(self, session_id: str, serial: str) -> bytes:
        return self.pdf_for(serial)

    async def report_print(
        self, session_id: str, serial: str, printed: bool, guard: GuardRefused | None = None
    ) -> dict[str, Any]:
        self._maybe_fail("report_print")
        self.reports.append((serial, printed))
        if guard is not None:
            self.guard_reports.append((serial, guard.finding))
        ref, _ = self.serials[serial]
        self.serials[serial] = (ref, "printed" if printed else "voided")
        if not printed:
            self.payments[ref]["refunded"] += 200
        return {"serial": serial, "status": self.serials[serial][1], "payment": self._payment(ref)}

    async def report_doubt(self, serial: str, printed: bool | None) -> dict[str, Any]:
        """As the server: ``None`` keeps an issued certificate in doubt; then its final word."""
        self._maybe_fail("report_doubt")
        ref, status = self.serials[serial]
        if printed is None:
            if status not in ("issued", "in_doubt"):
                raise HttpError(409, "session_state", f"the certificate is already {status}")
            self.serials[serial] = (ref, "in_doubt")
        elif status == "in_doubt":
            self.doubt_reports.append((serial, printed))
            self.serials[serial] = (ref, "printed" if printed else "voided")
            if not printed:
                self.payments[ref]["refunded"] += 200
        elif status != ("printed" if printed else "voided"):
            raise HttpError(409, "session_state", "only a print in doubt is reported outside its session")
        return {"serial": serial, "status": self.serials[serial][1], "payment": self._payment(ref)}

    async def end_session(self, session_id: str) -> dict[str, Any]:
        self._maybe_fail("end_session")
        self.ended += 1
        for serial, (ref, status) in self.serials.items():
            if status == "issued":
                self.serials[serial] = (ref, "voided")
                self.payments[ref]["refunded"] += 200
        return {"ended": True, "payments": [self._payment(r) for r in self.payments]}

    async def close(self) -> None:
        return None


class FakeCard:
    def __init__(self) -> None:
        self.pin_errors: list[Exception] = []
        self.closed = 0
        self.tries = 3

    async def open(self) -> bytes | None:
        return b"cert"

    async def read_certificate(self) -> bytes:
        return b"cert"

    async def pin_tries_left(self) -> int:
        return self.tries

    async def verify_pin(self, pin: str) -> None:
        if self.pin_errors:
            raise self.pin_errors.pop(0)

    async def sign(self, digest: bytes) -> bytes:
        return b"sig"

    async def close(self) -> None:
        self.closed += 1


class FakePrinter:
    def __init__(self, printed: bool = True) -> None:
        self.printed = printed
        self.outcomes: list[bool | None] = []  # per job, before ``printed``; None: the printer went silent
        self.answering = True  # False: the printer does not answer (every outcome in doubt)
        self.during: Callable[[], None] | None = None  # runs while the first job prints
        self.jobs = 0
        self.completed: set[str] = set()  # jobs left by a kiosk that died that came out
        self.asked: list[tuple[str | None, str]] = []  # outcome asked: (job, title)

    async def print_pdf(
        self, pdf: bytes, title: str, accepted: Callable[[str], None] | None = None
    ) -> PrintResult:
        self.jobs += 1
        if accepted is not None:
            accepted(f"job-{self.jobs}")
        if self.during is not None:
            self.during()
            self.during = None
            await asyncio.sleep(0.01)
        ok = self.outcomes.pop(0) if self.outcomes else self.printed
        if ok is None:
            self.answering = False
            return PrintResult(False, "print_in_doubt")
        return PrintResult(ok, "printed" if ok else "print_failed", path=Path("/dev/null"))

    async def outcome(self, job: str | None, title: str) -> PrintResult:
        self.asked.append((job, title))
        if not self.answering:
            return PrintResult(False, "print_in_doubt")
        ok = job in self.completed
        return PrintResult(ok, "printed" if ok else "print_failed")


async def broken_refund(reference: str, amount_yen: int) -> None:
    """A payment device whose refunds fail (its coin hopper is empty)."""
    raise OSError("coin hopper empty")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts() -> tuple[KioskEngine, FakeServer, FakeCard, FakePrinter, SimulatedPaymentDevice, Clock]:
    server, card, printer, device, clock = (
        FakeServer(),
        FakeCard(),
        FakePrinter(),
        SimulatedPaymentDevice(),
        Clock(),
    )
    engine = KioskEngine(
        server,  # type: ignore[arg-type]
        card,
        printer,
        device,
        ISSUING_KEY.public_key(),
        idle_timeout_s=60,
        retry_pause_s=0,
        clock=clock,
    )
    return engine, server, card, printer, device, clock


async def settle(engine: KioskEngine, *steps: Step) -> dict[str, Any]:
    return await engine.wait_for(*steps, timeout_s=2)


async def to_confirm(engine: KioskEngine) -> None:
    await engine.choose_language("en")
    engine.card_changed(True)
    await settle(engine, Step.PIN)
    await engine.enter_pin("1234")
    await settle(engine, Step.MENU)
    await engine.select("juminhyo")
    await engine.choose({"scope": "self", "copies": 1})
    await settle(engine, Step.CONFIRM)


async def test_the_whole_session_in_order(parts: Any) -> None:
    engine, server, card, printer, device, _ = parts
    await to_confirm(engine)
    await engine.pay()
    await settle(engine, Step.READY)
    await engine.start_print()
    state = await settle(engine, Step.TAKE_CARD)
    assert card.closed >= 1  # the card is reset once the session ends: its PIN state does not linger
    assert state["message"]["code"] == "printed" and printer.jobs == 1
    assert state["menu"] is None and state["certificates"] == [{"serial": "S1", "status": "printed"}]
    assert server.reports == [("S1", True)] and device.totals() == (200, 0)
    engine.card_changed(False)
    state = await settle(engine, Step.DONE)  # what happened stays a moment, in the session's language
    assert state["language"] == "en" and state["message"]["code"] == "printed" and state["menu"] is None
    assert state["certificates"] == [{"serial": "S1", "status": "printed"}]


async def test_the_card_is_released_once_the_pin_is_verified_and_its_removal_goes_on(parts: Any) -> None:
    engine, server, card, printer, device, clock = parts
    await engine.choose_language("en")
    engine.card_changed(True)
    await settle(engine, Step.PIN)
    assert engine.snapshot()["card_needed"] is True
    await engine.enter_pin("1234")
    state = await settle(engine, Step.MENU)
    assert card.closed == 1 and state["card_needed"] is False and state["authenticated"] is True
    engine.card_changed(False)  # the resident takes the card back, as the menu asks
    state = await settle(engine, Step.MENU)
    assert state["message"] is None and state["idle_s_left"] == 30  # the shorter limit without the card
    await engine.select("juminhyo")
    await engine.choose({"scope": "self", "copies": 1})
    await settle(engine, Step.CONFIRM)
    await engine.pay()
    await settle(engine, Step.READY)
    await engine.start_print()
    state = await settle(engine, Step.DONE)  # the session ends at once: no card to wait for
    assert state["message"]["code"] == "printed" and printer.jobs == 1 and device.totals() == (200, 0)
    assert server.ended == 1 and state["language"] == "en"
    clock.now += 10  # the done screen clears itself: nothing of the resident for the next person
    await engine.tick()
    state = await settle(engine, Step.LANGUAGE)
    assert state["language"] == "ja" and state["message"] is None and state["certificates"] == []


async def test_the_card_pulled_before_the_pin_is_verified_ends_the_session_in_its_language(
    parts: Any,
) -> None:
    engine, server, *_ = parts
    await engine.choose_language("en")
    engine.card_changed(True)
    await settle(engine, Step.PIN)
    engine.card_changed(False)
    state = await settle(engine, Step.DONE)
    assert state["message"]["code"] == "card_removed" and state["language"] == "en"
    assert server.ended == 1
    await engine.cancel()  # "OK" on the done screen: the first screen at once
    state = await settle(engine, Step.LANGUAGE)
    assert state["language"] == "ja" and state["message"] is None


@pytest.mark.parametrize(
    ("action", "args"),
    [("enter_pin", ("1234",)), ("select", ("juminhyo",)), ("pay", ()), ("start_print", ()), ("back", ())],
)
async def test_an_action_out_of_order_is_refused(parts: Any, action: str, args: tuple[Any, ...]) -> None:
    engine = parts[0]
    with pytest.raises(StepError) as exc:
        await getattr(engine, action)(*args)
    assert exc.value.code == "step_out_of_order" and engine.step is Step.LANGUAGE


async def test_only_what_the_menu_offers_can_be_chosen(parts: Any) -> None:
    engine = parts[0]
    await to_confirm(engine)
    await engine.back()
    for bad in ({"scope": "members", "members": ["stranger"]}, {"options": ["kojin_bango"]}, {"copies": 11}):
        with pytest.raises(StepError) as exc:
            await engine.choose(bad)
        assert exc.value.code == "bad_choice"
    await engine.back()
    with pytest.raises(StepError):
        await engine.select("inkan")  # refused in the menu


async def test_wrong_pins_count_down_then_a_blocked_card_ends(parts: Any) -> None:
    engine, server, card, *_ = parts
    card.pin_errors = [WrongPin(2), PinBlocked()]
    await engine.choose_language("en")
    engine.card_changed(True)
    await settle(engine, Step.PIN)
    await engine.enter_pin("0000")
    state = await settle(engine, Step.PIN)
    assert state["message"] == {"code": "pin_wrong", "params": {"tries_left": 2}}
    await engine.enter_pin("0000")
    state = await settle(engine, Step.TAKE_CARD)
    assert state["message"]["code"] == "pin_blocked"
    assert server.blocked_cards == [CARD_DER]  # the city is told: the registration is locked there


async def test_a_card_blocked_before_is_not_asked_for_its_pin_and_the_city_is_told(parts: Any) -> None:
    engine, server, card, *_ = parts
    card.tries = 0
    await engine.choose_language("en")
    engine.card_changed(True)
    state = await settle(engine, Step.TAKE_CARD)
    assert state["message"]["code"] == "pin_blocked" and server.blocked_cards == [CARD_DER]
    assert server.ended == 1


async def test_the_tries_the_card_has_left_are_said_before_the_pin(parts: Any) -> None:
    engine, server, card, *_ = parts
    card.tries = 1
    await engine.choose_language("en")
    engine.card_changed(True)
    state = await settle(engine, Step.PIN)
    assert state["tries_left"] == 1 and server.blocked_cards == []


async def test_a_lost_issue_answer_is_retried_with_the_same_payment(parts: Any) -> None:
    engine, server, _, _, device, _ = parts
    server.fail["issue"] = [
        HttpError(504, "http_504", "gateway timeout"),
        HttpError(0, "server_unreachable", ""),
    ]
    await to_confirm(engine)
    await engine.pay()
    await settle(engine, Step.READY)
    assert len(server.issued) == 3 and len(set(server.issued)) == 1  # one payment, three tries
    assert device.totals() == (200, 0)


async def test_a_refusal_after_payment_refunds_and_shows_the_menu_again(parts: Any) -> None:
    engine, server, _, _, device, _ = parts
    await to_confirm(engine)
    server.refuse_next = True
    await engine.pay()
    state = await settle(engine, Step.MENU)
    assert state["message"]["code"] == "ask_at_city_hall" and device.totals() == (200, 200)
    assert state["quote"] is None and state["kind"] is None


async def test_two_payments_in_one_session_are_each_settled(parts: Any) -> None:
    engine, server, _, printer, device, _ = parts
    await to_confirm(engine)
    server.refuse_next = True
    await engine.pay()  # payment A, refused after payment: refunded in full
    await settle(engine, Step.MENU)
    await engine.select("juminhyo")
    await engine.choose({"scope": "self", "copies": 2})
    await settle(engine, Step.CONFIRM)
    await engine.pay()  # payment B, two copies: one prints, one jams
    await settle(engine, Step.READY)
    printer.outcomes = [True, False]
    await engine.start_print()
    state = await settle(engine, Step.TAKE_CARD)
    assert state["message"]["code"] == "print_failed"
    assert device.totals() == (600, 400)  # A back whole, B's jammed copy back
    books = {ref: (p["paid"], p["refunded"]) for ref, p in server.payments.items()}
    assert {ref: (e.paid_yen, e.refunded_yen) for ref, e in device.ledger.items()} == books


async def paid_for_two_copies(engine: KioskEngine) -> None:
    """A session of two copies, paid and issued, ready to print."""
    await to_confirm(engine)
    await engine.back()
    await engine.choose({"scope": "self", "copies": 2})
    await settle(engine, Step.CONFIRM)
    await engine.pay()
    await settle(engine, Step.READY)


async def two_copies_printed(engine: KioskEngine) -> dict[str, Any]:
    """A session of two copies to its last screen."""
    await paid_for_two_copies(engine)
    await engine.start_print()
    return await settle(engine, Step.TAKE_CARD)


async def test_without_the_server_only_what_was_not_printed_is_refunded(parts: Any) -> None:
    engine, server, _, printer, device, _ = parts
    await paid_for_two_copies(engine)
    lost = HttpError(0, "server_unreachable", "")
    server.fail["report_print"] = [lost] * 6  # the network goes as the first copy comes out
    server.fail["end_session"] = [lost] * 3
    printer.during = lambda: engine.card_changed(False)  # ... and the card is taken back meanwhile
    printer.outcomes = [True, False]  # the second copy jams
    await engine.start_print()
    state = await settle(engine, Step.DONE)
    assert printer.jobs == 2  # the card is not needed to print
    assert device.totals() == (400, 200)  # the printed copy is kept, the other given back
    assert state["certificates"] == [
        {"serial": "S1", "status": "printed"},
        {"serial": "S2", "status": "failed"},
    ]
    assert state["menu"] is None


async def test_a_refund_the_device_fails_is_owed_not_lost(parts: Any) -> None:
    engine, _server, _, printer, device, _ = parts
    printer.printed = False

    device.refund = broken_refund
    await to_confirm(engine)
    await engine.pay()
    await settle(engine, Step.READY)
    await engine.start_print()
    state = await settle(engine, Step.TAKE_CARD)
    assert state["message"] == {"code": "refund_failed", "params": {"owed_yen": 200}}
    engine.card_changed(False)
    assert (await settle(engine, Step.DONE))["message"]["code"] == "refund_failed"  # not stuck


async def test_a_failed_print_refunds_its_copy(parts: Any) -> None:
    engine, server, _, printer, device, _ = parts
    printer.printed = False
    await to_confirm(engine)
    await engine.pay()
    await settle(engine, Step.READY)
    await engine.start_print()
    state = await settle(engine, Step.TAKE_CARD)
    assert state["message"]["code"] == "print_failed" and state["message"]["params"]["refunded_yen"] == 200
    assert server.reports == [("S1", False)] and device.totals() == (200, 200)


@pytest.mark.parametrize(
    ("pdf_for", "finding"),
    [
        (lambda serial: genuine_pdf(serial, b"another resident's card"), Finding.WRONG_REQUESTER),
        (lambda serial: genuine_pdf("S99"), Finding.WRONG_SERIAL),  # an earlier certificate, replayed
        (lambda serial: b"%PDF-1.7 not a certificate", Finding.UNREADABLE),
    ],
    ids=["another_card", "another_serial", "not_a_certificate"],
)
async def test_the_print_guard_prints_nothing_and_refunds_what_is_not_the_residents(
    parts: Any, pdf_for: Callable[[str], bytes], finding: Finding
) -> None:
    engine, server, _, printer, device, _ = parts
    server.pdf_for = pdf_for
    state = await two_copies_printed(engine)  # the guard stops the first, the second is never printed
    assert state["message"]["code"] == "print_stopped" and state["message"]["params"]["serial"] == "S1"
    assert state["message"]["params"]["refunded_yen"] == 400
    assert printer.jobs == 0  # the second copy is not even tried
    assert server.guard_reports == [("S1", finding)] and server.reports == [("S1", False)]
    assert device.totals() == (400, 400) and server.ended == 1
    assert state["certificates"] == [
        {"serial": "S1", "status": "stopped"},
        {"serial": "S2", "status": "issued"},
    ]


async def test_the_print_guard_stops_at_the_copy_it_refuses_and_keeps_what_was_printed(parts: Any) -> None:
    engine, server, _, printer, device, _ = parts
    server.pdf_for = lambda serial: genuine_pdf(serial if serial == "S1" else "S1")  # S2 gets S1's again
    state = await two_copies_printed(engine)
    assert state["message"]["code"] == "print_stopped" and state["message"]["params"]["serial"] == "S2"
    assert printer.jobs == 1 and server.reports == [("S1", True), ("S2", False)]
    assert server.guard_reports == [("S2", Finding.WRONG_SERIAL)] and device.totals() == (400, 200)


async def until_the_device_waits(device: SimulatedPaymentDevice) -> None:
    for _ in range(50):
        if device.waiting:
            return
        await asyncio.sleep(0.01)


async def test_cancel_on_the_payment_screen_stops_the_payment_and_goes_back(parts: Any) -> None:
    engine, server, _, _, device, _ = parts
    device.manual = True
    await to_confirm(engine)
    await engine.pay()
    await until_the_device_waits(device)
    engine.card_changed(False)  # taking the card back while paying does not stop anything
    assert engine.step is Step.PAYMENT
    await engine.cancel()
    state = await settle(engine, Step.CONFIRM)
    assert state["message"]["code"] == "payment_cancelled" and state["quote"] is not None
    assert device.totals() == (0, 0) and server.issued == []


async def test_walking_away_after_paying_voids_and_refunds_once_at_the_idle_limit(parts: Any) -> None:
    engine, server, _, printer, device, clock = parts
    await to_confirm(engine)
    await engine.pay()
    await settle(engine, Step.READY)
    engine.card_changed(False)
    clock.now += 29
    await engine.tick()
    assert engine.step is Step.READY and engine.snapshot()["idle_s_left"] == 1  # the warning shows
    clock.now += 2
    await engine.tick()
    state = await settle(engine, Step.DONE)
    assert state["message"]["code"] == "timed_out" and state["message"]["params"]["refunded_yen"] == 200
    assert printer.jobs == 0 and server.ended == 1 and device.totals() == (200, 200)
    await engine.tick()
    assert device.totals() == (200, 200) and server.ended == 1  # once


async def test_continue_on_the_idle_warning_gives_the_shorter_limit_again(parts: Any) -> None:
    engine, _, _, _, _, clock = parts
    await to_confirm(engine)
    engine.card_changed(False)
    clock.now += 25
    assert engine.snapshot()["idle_s_left"] == 5 and engine.snapshot()["idle_warning_s"] == 20
    engine.touch()
    assert engine.snapshot()["idle_s_left"] == 30


async def test_an_idle_screen_ends_the_session_and_wipes_it(parts: Any) -> None:
    engine, server, _, _, _, clock = parts
    await to_confirm(engine)
    clock.now += 30
    await engine.tick()
    assert engine.step is Step.CONFIRM  # not yet
    clock.now += 31
    await engine.tick()
    state = await settle(engine, Step.TAKE_CARD)
    assert state["message"]["code"] == "timed_out" and state["quote"] is None and server.ended == 1
    engine.card_changed(False)
    state = await settle(engine, Step.DONE)
    assert state["menu"] is None and state["language"] == "en" and state["message"]["code"] == "timed_out"
    clock.now += 10
    await engine.tick()
    state = await settle(engine, Step.LANGUAGE)
    assert state["language"] == "ja" and state["message"] is None


async def test_a_card_pulled_while_its_block_is_reported_still_ends_with_pin_blocked(parts: Any) -> None:
    engine, server, card, *_ = parts
    card.tries = 0
    reported = asyncio.Event()
    release = asyncio.Event()
    plain = server.report_card_blocked

    async def slow_report(session_id: str, cert_der: bytes) -> dict[str, Any]:
        reported.set()
        await release.wait()
        return await plain(session_id, cert_der)

    server.report_card_blocked = slow_report
    await engine.choose_language("en")
    engine.card_changed(True)
    await asyncio.wait_for(reported.wait(), 2)
    engine.card_changed(False)  # the resident pulls the card while the kiosk tells the city
    release.set()
    state = await settle(engine, Step.DONE)
    assert state["message"]["code"] == "pin_blocked" and server.blocked_cards == [CARD_DER]


async def test_a_refund_owed_stays_on_the_done_screen_longer(parts: Any) -> None:
    engine, _server, _, printer, device, clock = parts
    printer.printed = False

    device.refund = broken_refund
    await to_confirm(engine)
    engine.card_changed(False)
    await engine.pay()
    await settle(engine, Step.READY)
    await engine.start_print()
    state = await settle(engine, Step.DONE)
    assert state["message"]["code"] == "refund_failed"
    clock.now += 11  # longer than the usual farewell
    await engine.tick()
    assert engine.step is Step.DONE
