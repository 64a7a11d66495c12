"""The kiosk terminal's engine: one resident session at a time as a state machine, its steps and their
transitions declared in :mod:`kiosk.session_steps` (one table, checked in :meth:`KioskEngine._go`).

Every action checks the step it belongs to, so a reload, a second client or a crafted request cannot
skip one (:class:`StepError`). Long work (reading the card, authenticating, paying, issuing, printing)
runs as one background task at a time; the screen follows :meth:`KioskEngine.snapshot`. Pulling the card
before the PIN is verified, staying idle or cancelling ends the session at any step: what was paid and not
printed is refunded, and everything about the resident is wiped. The card is needed only until the PIN is
verified: then it is released, its removal is expected, and a shorter idle limit applies without it. Messages are codes with parameters, rendered by the client in the
resident's language.

A phone (スマホ用電子証明書) is held over the same reader and told from a card by its certificate (the
session's ``phones`` name each form's policy OID): an Android phone shows its certificate only after its PIN,
which it verifies as a card does; an iPhone verified its owner itself and signs without one, and goes
straight to the menu unless the city asks its registered PIN. A resident signed in with the card may link a
phone from the menu.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509

from devices.card.errors import CardError, PinBlocked, WrongPin
from devices.card.profile import PIN_MAX_TRIES
from devices.printing import Printer
from kiosk.journal import Journal
from kiosk.menu_choices import checked_choices, default_choices
from kiosk.payment import PaymentDevice, PaymentOutcome, PaymentResult
from kiosk.session_steps import CARD_NEEDED, WAITING_FOR_RESIDENT, Event, Step, StepError, next_step
from kiosk.visit import Paid, Visit
from wire.credentials import PHONE_FORMS, Form, PinPolicy, phone_form_of
from wire.http_json import HttpError
from wire.kiosk_api import ASK_AT_CITY_HALL, MAX_COPIES, auth_digest, link_digest
from wire.kiosk_client import KioskClient
from wire.print_guard import GuardRefused, check_sheets

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

log = logging.getLogger("konbini.kiosk")


PAYMENT_ANSWER_S = 10.0  # how long a cancelled payment device may take to give its last answer
REPORT_ATTEMPTS = 3
# Last words the done screen keeps longer than the rest (the resident or the store's staff must act).
LINGERING = frozenset({"refund_failed", "print_in_doubt"})
# Server answers that end the session with a message for the resident.
_ENDING_CODES = frozenset({"registration_locked", "registration_suspended", "card_not_registered"})
# Server answers about the credential itself: neither the card CA's nor the smartphone CA's, or expired.
_UNTRUSTED_CODES = frozenset({"card_certificate_untrusted", "card_certificate_expired"})


class CardPort(Protocol):
    """The card (or phone) in the kiosk's reader (:class:`kiosk.pcsc_card.PcscCard` over PC/SC)."""

    async def open(self) -> bytes | None:
        """Connect and read the authentication certificate (DER); None: it is shown only after the PIN (an
        Android phone)."""
        ...

    async def read_certificate(self) -> bytes:
        """The authentication certificate, read again (an Android phone's, after its PIN)."""
        ...

    async def pin_tries_left(self) -> int:
        """The PIN tries the card has left (0: blocked), asked without using one."""
        ...

    async def verify_pin(self, pin: str) -> None: ...

    async def sign(self, digest: bytes) -> bytes: ...

    async def close(self) -> None: ...


class KioskEngine:
    def __init__(
        self,
        api: KioskClient,
        card: CardPort,
        printer: Printer,
        payment: PaymentDevice,
        issuing_key: Ed25519PublicKey,
        *,
        journal: Journal | None = None,
        languages: tuple[str, ...] = ("ja", "en"),
        idle_timeout_s: float = 60.0,
        card_out_idle_s: float = 30.0,
        idle_warning_s: float = 20.0,
        farewell_s: float = 10.0,
        issue_attempts: int = 8,
        payment_timeout_s: float = 180.0,
        retry_pause_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.card = card
        self.printer = printer
        self.payment = payment
        self.issuing_key = issuing_key  # the city's, from the enrolment: what the print guard checks against
        self.journal = (
            journal  # what is owed and printed, on disk before it is acted on (None: scripts, tests)
        )
        self.languages = languages
        self.idle_timeout_s = idle_timeout_s
        self.card_out_idle_s = card_out_idle_s  # once the resident took the card back after the PIN
        self.idle_warning_s = idle_warning_s  # "need more time?" this long before an idle end
        self.farewell_s = farewell_s  # the done screen clears itself after this
        self.issue_attempts = issue_attempts
        self.payment_timeout_s = payment_timeout_s
        self.retry_pause_s = retry_pause_s
        self._clock = clock
        self.step = Step.LANGUAGE
        self.language = languages[0]
        self.message: dict[str, Any] | None = None
        self.visit = Visit()
        self.card_present = False
        self.version = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._idle_deadline = clock() + idle_timeout_s
        self._stopping = False  # an interruption is stopping the current step
        self.last_printed: list[dict[str, Any]] = []  # for scripts: what the visit just ended printed
        self._ending = False  # the session is being ended (not to be interrupted again)

    # -- what the screen shows -----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def between_visits(self) -> bool:
        """No resident's session is open and no step runs (the printer is not printing for one)."""
        return not self.visit.session_id and not self.busy

    def snapshot(self) -> dict[str, Any]:
        v = self.visit
        counting = self.step in WAITING_FOR_RESIDENT and self.step is not Step.TAKE_CARD and not self.busy
        idle = max(0.0, self._idle_deadline - self._clock()) if counting else None
        return {
            "version": self.version,
            "step": self.step.value,
            "busy": self.busy,
            "language": self.language,
            "languages": list(self.languages),
            "message": self.message,
            "card_present": self.card_present,
            "card_needed": self.step in CARD_NEEDED,
            "authenticated": v.authenticated,
            "form": v.form,
            "phone_linking": v.phone_linking and v.authenticated and v.form == Form.CARD,
            "link_form": v.link_form or None,
            "service": v.service or None,
            "tries_left": v.tries_left,
            "menu": v.menu,
            "kind": v.kind,
            "choices": v.choices,
            "quote": v.quote,
            "max_copies": MAX_COPIES,
            "paid_yen": sum(p.amount_yen for p in v.payments.values()),
            "refunded_yen": sum(p.refunded_yen for p in v.payments.values()),
            "certificates": v.certificates,
            "idle_s_left": None if idle is None else round(idle, 1),
            "idle_warning_s": self.idle_warning_s,
        }

    async def wait_change(self, since: int, timeout_s: float) -> dict[str, Any]:
        """The state once its version is past ``since`` (or after ``timeout_s``)."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version > since), timeout_s)
        return self.snapshot()

    async def wait_for(self, *steps: Step, timeout_s: float = 30.0) -> dict[str, Any]:
        """For scripts: the state once the engine rests in one of ``steps`` (raises TimeoutError)."""

        def arrived() -> bool:
            return self.step in steps and not self.busy

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(arrived), timeout_s)
        return self.snapshot()

    def _changed_now(self) -> None:
        self.version += 1

        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    def _go(self, event: Event, message: dict[str, Any] | None = None) -> None:
        """The one place the step changes: to where the transition table leads on ``event``."""
        step = next_step(self.step, event)
        if step != self.step:
            log.info("step %s -> %s%s", self.step, step, f" ({message['code']})" if message else "")
        self.step = step
        self.message = message
        self._idle_deadline = self._clock() + self._idle_limit()
        self._changed_now()

    def _idle_limit(self) -> float:
        """How long the current screen may be left alone: the done screen clears itself soon; a session
        whose card was taken back after the PIN gets the shorter limit (nobody may be standing there)."""
        if self.step is Step.DONE:  # money still owed or a print in doubt: long enough for the store's staff
            lingers = self.message is not None and self.message.get("code") in LINGERING
            return self.farewell_s * 6 if lingers else self.farewell_s
        if self.visit.authenticated and not self.card_present:
            return self.card_out_idle_s
        return self.idle_timeout_s

    def _expect(self, *steps: Step) -> None:
        if self.step not in steps:
            raise StepError("step_out_of_order", f"not possible at step {self.step.value}")
        if self.busy or self._stopping:
            raise StepError("busy", "the kiosk is still working on the last step")

    def _run(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.get_running_loop().create_task(self._guarded(work))
        self._changed_now()

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:  # a defect must not leave the resident stuck: end the session, refund
            log.exception("kiosk step failed")
            try:
                await self._end_visit(_msg("kiosk_error"))
            except Exception:
                log.exception("ending the session failed too")
                self._leave(_msg("kiosk_error"))
        finally:
            if self.step is Step.TAKE_CARD and not self.card_present:
                self._go(Event.FINISHED, self.message)  # the card left as the session ended
            self._changed_now()

    # -- the resident's actions ----------------------------------------------------------------------

    async def choose_language(self, language: str) -> None:
        """At the start; the language may also be changed on any later screen without moving on."""
        if language not in self.languages:
            raise StepError("bad_choice", f"language must be one of {', '.join(self.languages)}")
        self.language = language
        if self.step is Step.LANGUAGE:
            self._go(Event.LANGUAGE_CHOSEN)
            if self.card_present:
                self._run(self._card_in())
        else:
            self._idle_deadline = self._clock() + self._idle_limit()
            self._changed_now()

    def touch(self) -> None:
        """The resident is working on the current screen (typing digits, ticking boxes, "continue" on the
        idle warning): the idle timeout starts again."""
        if self.step in WAITING_FOR_RESIDENT and not self.busy:
            self._idle_deadline = self._clock() + self._idle_limit()
            self._changed_now()

    async def enter_pin(self, pin: str) -> None:
        self._expect(Step.PIN, Step.LINK_PIN)
        if len(pin) != 4 or not pin.isascii() or not pin.isdigit():
            raise StepError("bad_choice", "the PIN has 4 digits")
        self._run(self._authenticate(pin) if self.step is Step.PIN else self._link(pin))

    async def add_phone(self) -> None:
        """ "Register a smartphone" on the menu (a resident signed in with the card, where the city allows)."""
        self._expect(Step.MENU)
        v = self.visit
        if not (v.phone_linking and v.form == Form.CARD):
            raise StepError("bad_choice", "phones are linked here only after signing in with the card")
        v.link_certificate, v.link_form = b"", ""
        self._go(Event.LINK_CHOSEN)
        if self.card_present:  # the phone may be on the reader already (or the card, still to be taken)
            self._run(self._phone_in())

    async def select(self, kind: str) -> None:
        self._expect(Step.MENU)
        item = self._item(kind)
        if item is None or not item["available"]:
            raise StepError("bad_choice", f"{kind!r} is not offered to this resident")
        self.visit.kind = kind
        self.visit.choices = default_choices(item)
        self._go(Event.KIND_SELECTED)

    async def choose(self, choices: dict[str, Any]) -> None:
        """The options of the chosen kind and the copies; the server quotes the fee."""
        self._expect(Step.OPTIONS)
        assert self.visit.kind is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        item = self._item(self.visit.kind)
        assert item is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        checked = checked_choices(item, choices)
        self.visit.choices = checked
        self._run(self._quote(checked))

    async def back(self) -> None:
        self._expect(Step.OPTIONS, Step.CONFIRM, Step.LINK_PHONE, Step.LINK_PIN)
        if self.step is Step.CONFIRM:
            self.visit.quote = None
        elif self.step is Step.OPTIONS:
            self.visit.kind = self.visit.choices = None
        else:
            self.visit.link_certificate, self.visit.link_form = b"", ""
            with contextlib.suppress(Exception):
                await self.card.close()
        self._go(Event.BACK)

    async def pay(self) -> None:
        self._expect(Step.CONFIRM)
        self._run(self._pay_and_issue())

    async def start_print(self) -> None:
        self._expect(Step.READY)
        self._run(self._print_all())

    async def cancel(self) -> None:
        """The resident ends the session (any step where they may act), stops a payment not yet made (back
        to the confirm screen, as the payment device answers), or closes the done screen."""
        if self.step is Step.LANGUAGE:
            return
        if self.step is Step.DONE:
            self._wipe()
            return
        if self.step is Step.PAYMENT and self.busy and not self._stopping:
            await self.payment.cancel()
            return
        self._expect(*WAITING_FOR_RESIDENT)
        self._run(self._end_visit(_msg("cancelled")))

    # -- device events -------------------------------------------------------------------------------

    def card_changed(self, present: bool) -> None:
        """From the card watcher (on the loop): a card was inserted into or removed from the reader."""
        self.card_present = present
        log.info("card %s", "inserted" if present else "removed")
        if present:
            if self.step is Step.CARD and not self.busy:
                self._run(self._card_in())
            elif self.step is Step.LINK_PHONE and not self.busy:
                self._run(self._phone_in())
            else:
                self._changed_now()
            return
        if self.step is Step.TAKE_CARD and not self.busy:
            self._go(Event.FINISHED, self.message)  # the same words, in the same language, then cleared
        elif self.step in (Step.LANGUAGE, Step.CARD, Step.DONE) and not self.busy:
            self._changed_now()
        elif self.visit.authenticated or self.visit.card_blocked or self.step is Step.TAKE_CARD:
            # expected once the PIN is verified: the session goes on, with the shorter idle limit
            self._idle_deadline = min(self._idle_deadline, self._clock() + self.card_out_idle_s)
            self._changed_now()
        else:
            self._stopping = True  # from now on no action is taken until the session has ended
            asyncio.get_running_loop().create_task(self._interrupt(_msg("card_removed")))

    async def tick(self) -> None:
        """Called about every half second: the idle timeout."""
        if self.busy or self.step not in WAITING_FOR_RESIDENT | {Step.LANGUAGE, Step.DONE}:
            return
        if self._clock() < self._idle_deadline:
            return
        if self.step is Step.TAKE_CARD:
            self._idle_deadline = self._clock() + self.idle_timeout_s  # keep reminding
            return
        if self.step is Step.DONE:
            self._wipe()
            return
        if self.step in (Step.LANGUAGE, Step.CARD):
            if self.step is Step.CARD or self.language != self.languages[0]:
                self.language = self.languages[0]
                self._go(Event.IDLE)
            else:
                self._idle_deadline = self._clock() + self.idle_timeout_s
            return
        log.info("idle timeout at step %s", self.step)
        self._run(self._end_visit(_msg("timed_out")))

    async def close(self) -> None:
        """Shut down: end any session (refunding what is owed) and release the card."""
        if self.step not in (Step.LANGUAGE, Step.CARD, Step.DONE) or self.visit.session_id:
            await self._interrupt(_msg("kiosk_closing"))
        await self.card.close()

    # -- the work of each step -----------------------------------------------------------------------

    async def _interrupt(self, message: dict[str, Any]) -> None:
        """Card pulled or shutting down mid-step: stop the step's work, then end the session. A payment
        in progress is cancelled at the device and its answer awaited: money it took is refunded."""
        self._stopping = True
        try:
            if self._ending:
                return  # the session is already being ended; it sees the card is gone
            task = self._task
            if task is not None and not task.done():
                if self.step is Step.PAYMENT:
                    await self.payment.cancel()
                    with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                        await asyncio.wait_for(asyncio.shield(task), PAYMENT_ANSWER_S)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._run(self._end_visit(message))
            await asyncio.shield(self._task)  # type: ignore[arg-type]
        finally:
            self._stopping = False

    async def _card_in(self) -> None:
        try:
            certificate = await self.card.open()
        except CardError as exc:
            log.info("card not usable: %s", exc.code)
            await self._end_visit(_msg("card_unreadable"))
            return
        if not await self._open_server_session():
            return
        v = self.visit
        v.certificate = certificate or b""
        v.form = self._form_of(certificate) if certificate else Form.ANDROID  # hidden until its PIN: Android
        v.send_pin = self._pin_asked(v.form)
        log.info("credential read: %s", v.form)
        if v.form == Form.IPHONE:  # no PIN on the phone: it verified its owner before it signs
            if v.send_pin:
                self._go(Event.CARD_READ)  # the registered PIN, which only the server checks
            else:
                await self._authenticate(None)
            return
        try:
            tries = await self.card.pin_tries_left()
        except CardError as exc:
            log.info("card not usable: %s", exc.code)
            await self._end_visit(_msg("card_unreadable"))
            return
        if tries == 0:  # blocked before: not asked for its PIN again, and the city is told
            await self._card_blocked()
            return
        self.visit.tries_left = tries if tries < PIN_MAX_TRIES else None  # fewer left: said on the PIN screen
        self._go(Event.CARD_READ)

    async def _card_blocked(self) -> None:
        """The card's own PIN counter is blocked: the server locks its registration (the resident needs
        J-LIS's PIN reset at the city hall), then the session ends."""
        v = self.visit
        v.card_blocked = True  # the card is no longer needed: pulling it now must not lose the report
        session_id, certificate = v.session_id, v.certificate
        if not certificate:  # an Android phone, whose certificate comes only after its PIN: nothing to report
            log.warning("phone PIN blocked: not reported (its certificate is shown only after the PIN)")
            await self._end_visit(_msg("pin_blocked"))
            return
        answer = await self._retried(lambda: self.api.report_card_blocked(session_id, certificate))
        log.warning(
            "card PIN blocked: reported to the server (%s)", answer.get("result") if answer else "no answer"
        )
        await self._end_visit(_msg("pin_blocked"))

    async def _open_server_session(self) -> bool:
        try:
            opened = await self.api.open_session()
        except HttpError as exc:
            log.warning("cannot open a session: %s", exc.code)
            await self._end_visit(_msg("service_unavailable"))
            return False
        v = self.visit
        v.session_id, v.nonce, v.service = opened["session_id"], opened["nonce"], opened["service"]
        v.phones, v.phone_linking = list(opened.get("phones") or []), bool(opened.get("phone_linking"))
        v.nonce_deadline = self._clock() + float(opened["nonce_expires_in_s"]) - 5
        if opened["service"] == "closed":
            await self._end_visit(opened.get("service_reason") or _msg("service_unavailable"))
            return False
        return True

    def _form_of(self, certificate: bytes) -> Form:
        """The credential's form by its certificate's policy OIDs (as the session's ``phones`` name them)."""
        try:
            cert = x509.load_der_x509_certificate(certificate)
        except ValueError:
            return Form.CARD  # the server says what is wrong with it
        oids = {
            Form(p["form"]): str(p["policy_oid"]) for p in self.visit.phones if p.get("form") in PHONE_FORMS
        }
        return phone_form_of(cert, oids) or Form.CARD

    def _pin_asked(self, form: str) -> bool:
        """Whether the server asks the registered PIN of this form (a card's always)."""
        policy = next((p.get("pin") for p in self.visit.phones if p.get("form") == form), None)
        return form == Form.CARD or policy != PinPolicy.ON_DEVICE

    async def _authenticate(self, pin: str | None) -> None:
        """Verify ``pin`` on the card or Android phone, sign the session's nonce and sign in: the registered
        PIN sent when the city asks it for this form (``pin`` None: an iPhone the city does not ask)."""
        v = self.visit
        try:
            if v.form != Form.IPHONE:
                assert pin is not None  # noqa: S101  an invariant that narrows a type, not a check of input
                await self.card.verify_pin(pin)
            if not v.certificate:  # an Android phone shows it now
                v.certificate = await self.card.read_certificate()
                v.form = self._form_of(v.certificate)
                v.send_pin = self._pin_asked(v.form)
        except WrongPin as exc:
            v.tries_left = exc.tries_left
            self._go(Event.PIN_WRONG, _msg("pin_wrong", tries_left=exc.tries_left))
            return
        except PinBlocked:
            await self._card_blocked()
            return
        except CardError as exc:
            log.info("card failed at PIN: %s", exc.code)
            await self._end_visit(_msg("card_unreadable"))
            return
        if self._clock() > v.nonce_deadline:  # the resident took long: a fresh nonce
            await self._end_server_session()
            if not await self._open_server_session():
                return
        try:
            signature = await self.card.sign(auth_digest(self.api.kiosk_id, v.session_id, v.nonce))
            await self.api.authenticate(
                v.session_id, v.nonce, v.certificate, signature, pin if v.send_pin else None
            )
            menu = await self.api.menu(v.session_id)
        except CardError as exc:
            log.info("card failed at signing: %s", exc.code)
            await self._end_visit(_msg("card_unreadable"))
            return
        except HttpError as exc:
            if exc.code == "pin_wrong":  # the nonce is spent: the next try gets a new session
                v.tries_left = int(exc.body.get("tries_left", 0))
                await self._end_server_session()
                if await self._open_server_session():
                    self._go(Event.PIN_WRONG, _msg("pin_wrong", tries_left=v.tries_left))
                return
            shown = "registration_suspended" if exc.code == "card_revoked" else exc.code
            if shown in _UNTRUSTED_CODES:
                shown = "credential_untrusted"
            known = _ENDING_CODES | {"credential_untrusted"}
            await self._end_visit(_msg(shown if shown in known else "service_unavailable"))
            return
        v.menu = menu["items"]
        v.service = menu["service"]
        v.tries_left = None
        v.authenticated = True
        with contextlib.suppress(Exception):  # released (and reset): the resident may take it back now
            await self.card.close()
        self._go(Event.AUTHENTICATED)

    async def _phone_in(self) -> None:
        """The phone to link is on the reader: its certificate (an Android phone's after its PIN), then its
        PIN."""
        v = self.visit
        try:
            certificate = await self.card.open()
        except CardError as exc:
            log.info("phone to link not readable: %s", exc.code)
            await self._link_ended("phone_not_linked")
            return
        if certificate == v.certificate:  # the session's own card, not yet taken back: wait for the phone
            with contextlib.suppress(Exception):
                await self.card.close()
            return
        v.link_certificate = certificate or b""
        v.link_form = self._form_of(certificate) if certificate else Form.ANDROID
        if v.link_form == Form.CARD:  # another card, not a phone
            await self._link_ended("phone_not_linked")
            return
        self._go(Event.PHONE_READ)

    async def _link(self, pin: str) -> None:
        """The phone's PIN (verified on an Android phone; an iPhone's chosen now): the phone signs the
        session's link digest and the server links it with this PIN as its registered PIN."""
        v = self.visit
        try:
            if v.link_form != Form.IPHONE:
                await self.card.verify_pin(pin)
            certificate = v.link_certificate or await self.card.read_certificate()
            signature = await self.card.sign(link_digest(self.api.kiosk_id, v.session_id))
            await self.api.link_phone(v.session_id, certificate, signature, pin)
        except WrongPin as exc:
            self._go(Event.PIN_WRONG, _msg("pin_wrong", tries_left=exc.tries_left))
            return
        except (CardError, HttpError) as exc:
            log.info("phone not linked: %s", exc.code)
            await self._link_ended("phone_not_linked")
            return
        log.info("phone linked: %s", v.link_form)
        await self._link_ended("phone_linked")

    async def _link_ended(self, code: str) -> None:
        self.visit.link_certificate, self.visit.link_form = b"", ""
        with contextlib.suppress(Exception):
            await self.card.close()
        self._go(Event.LINK_ENDED, _msg(code))

    async def _quote(self, choices: dict[str, Any]) -> None:
        v = self.visit
        assert v.kind is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        try:
            v.quote = await self.api.quote(v.session_id, v.kind, **choices)
        except HttpError as exc:
            if exc.code == "refused":
                self._go(Event.CHOICE_REFUSED, exc.body.get("refusal") or _msg(ASK_AT_CITY_HALL))
                return
            if exc.code == "bad_field":
                self._go(Event.CHOICE_REFUSED, _msg("choice_not_possible"))
                return
            await self._end_visit(_msg("service_unavailable"))
            return
        self._go(Event.QUOTED)

    async def _pay_and_issue(self) -> None:
        v = self.visit
        assert v.quote is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        self._go(Event.PAY)
        order = str(v.quote["quote_id"])
        if self.journal is not None:
            self.journal.paying(v.session_id, order, int(v.quote["total_yen"]))
        result = await self._take_payment(int(v.quote["total_yen"]), order)
        if result.outcome is not PaymentOutcome.PAID or result.reference is None:
            self._go(Event.PAYMENT_FAILED, _msg(f"payment_{result.outcome.value}"))
            return
        paid = Paid(result.reference, result.amount_yen)
        v.payments[paid.reference] = paid
        if self.journal is not None:
            self.journal.paid(order, paid.reference)
        if self._stopping:
            return  # the card was pulled as the money went in: the session's end gives it back
        self._go(Event.PAID)
        started = time.perf_counter()
        answer = await self._issue(v.quote["quote_id"], paid)
        if answer is None:
            return
        log.info("timing paid_to_issued_ms=%.1f", (time.perf_counter() - started) * 1000)
        if self.journal is not None:
            self.journal.issued(order, [(c["serial"], int(c["fee_yen"])) for c in answer["certificates"]])
        v.certificates = [
            {"serial": c["serial"], "kind": c["kind"], "fee_yen": c["fee_yen"], "status": "issued",
             "payment_reference": paid.reference}
            for c in answer["certificates"]
        ]  # fmt: skip
        self._go(Event.ISSUED)

    async def _take_payment(self, amount_yen: int, order: str) -> PaymentResult:
        """The device's answer; a resident who walks away is cancelled at the device after
        ``payment_timeout_s`` (and its answer still awaited, so money it took is not lost)."""
        pay = asyncio.ensure_future(self.payment.pay(amount_yen, order))
        try:
            return await asyncio.wait_for(asyncio.shield(pay), self.payment_timeout_s)
        except TimeoutError:
            await self.payment.cancel()
            return await asyncio.wait_for(pay, PAYMENT_ANSWER_S)

    async def _issue(self, quote_id: str, paid: Paid) -> dict[str, Any] | None:
        """Issue the paid quote; a lost answer or a passing failure is retried with the same quote and
        payment (the server answers a retry with the first answer). None when the session ended."""
        for attempt in range(1, self.issue_attempts + 1):
            try:
                return await self.api.issue(self.visit.session_id, quote_id, paid.reference)
            except HttpError as exc:
                passing = exc.status == 0 or exc.status >= 500 or exc.code == "issue_in_progress"
                if passing and attempt < self.issue_attempts:
                    log.info("issue attempt %d failed (%s); trying again", attempt, exc.code)
                    await asyncio.sleep(self.retry_pause_s * attempt)
                    continue
                if exc.code == "refused":
                    await self._settle(paid, exc.body.get("payment"))
                    self.visit.quote = None
                    await self._refresh_menu(exc.body.get("refusal") or _msg(ASK_AT_CITY_HALL))
                    return None
                await self._end_visit(_msg("service_unavailable"))
                return None
        return None

    async def _refresh_menu(self, message: dict[str, Any]) -> None:
        """Back to the menu, as the server now sees it (what was just refused is no longer offered)."""
        try:
            self.visit.menu = (await self.api.menu(self.visit.session_id))["items"]
        except HttpError:
            await self._end_visit(_msg("service_unavailable"))
            return
        self.visit.kind = self.visit.choices = None
        self._go(Event.ISSUE_REFUSED, message)

    async def _print_all(self) -> None:
        v = self.visit
        self._go(Event.PRINT)
        started = time.perf_counter()
        first = True

        def accepted(_job: str) -> None:
            nonlocal first
            if first:
                first = False
                log.info("timing print_to_accepted_ms=%.1f", (time.perf_counter() - started) * 1000)

        failed = 0
        for cert in v.certificates:
            cert["status"] = "printing"
            self._changed_now()
            cert["status"] = await self._print_one(cert, accepted)
            self._changed_now()
            if cert["status"] == "stopped":  # the print guard: nothing more is printed in this session
                await self._end_visit(_msg("print_stopped", serial=cert["serial"]))
                return
            if cert["status"] == "in_doubt":  # the printer stopped answering: nothing more goes to it
                await self._end_visit(_msg("print_in_doubt", serial=cert["serial"]))
                return
            failed += cert["status"] != "printed"
        copies = sum(c["status"] == "printed" for c in v.certificates)
        message = (
            _msg("print_failed", failed=failed, printed=copies) if failed else _msg("printed", printed=copies)
        )
        await self._end_visit(message)

    async def _print_one(self, cert: dict[str, Any], accepted: Callable[[str], None]) -> str:
        """Fetch, guard and print one certificate, and report it: ``printed``, ``failed`` (voided and
        refunded), ``stopped`` (the print guard refused the PDF: voided, refunded, alarmed) or ``in_doubt``
        (the printer stopped answering with the job: kept by the server, settled when the printer answers,
        :mod:`kiosk.doubts`)."""
        v = self.visit
        serial = cert["serial"]
        paid = v.payments[cert["payment_reference"]]
        try:
            pdf = await self.api.fetch_pdf(v.session_id, serial)
        except HttpError as exc:
            log.warning("cannot fetch certificate %s: %s", serial, exc.code)
            return "failed"  # the session end voids and refunds it
        refused = self._guard(pdf, serial)
        if refused is not None:
            del pdf
            log.warning("print guard stopped certificate %s: %s", serial, refused)
            self._journal_printed(serial, False)
            answer = await self._retried(lambda: self.api.report_print(v.session_id, serial, False, refused))
            self._journal_reported(serial, answer)
            await self._settle(paid, answer.get("payment") if answer else None)
            return "stopped"
        if self.journal is not None:
            self.journal.printing(serial)

        def handed_over(job: str) -> None:
            accepted(job)
            if self.journal is not None:
                self.journal.print_job(serial, job)

        result = await self.printer.print_pdf(pdf, serial, handed_over)
        del pdf  # the kiosk keeps no certificate data
        if result.in_doubt:
            log.warning("print of %s in doubt: %s", serial, result.detail)
            paid.kept_yen += int(cert["fee_yen"])  # kept until the printer says (kiosk.doubts)
            if self.journal is not None:
                self.journal.in_doubt(serial)
            answer = await self._retried(lambda: self.api.report_doubt(serial, None))
            cert["kept"] = answer is not None  # else the session is left open: no end may void it
            if answer is not None and self.journal is not None:
                self.journal.doubt_reported(serial)
            return "in_doubt"
        self._journal_printed(serial, result.printed)
        if result.printed:
            paid.kept_yen += int(cert["fee_yen"])  # the resident has it, whatever the report's fate
        else:
            log.warning("print of %s failed: %s %s", serial, result.code, result.detail)
        cert["path"] = str(result.path) if result.path else None
        answer = await self._retried(lambda: self.api.report_print(v.session_id, serial, result.printed))
        self._journal_reported(serial, answer)
        if answer is None:
            log.warning("print report for %s was not answered", serial)
        elif not result.printed:
            await self._settle(paid, answer.get("payment"))
        return "printed" if result.printed else "failed"

    def _journal_printed(self, serial: str, printed: bool) -> None:
        if self.journal is not None:
            self.journal.printed(serial, printed)

    def _journal_reported(self, serial: str, answer: dict[str, Any] | None) -> None:
        if self.journal is not None and answer is not None:
            self.journal.reported(serial)

    def _guard(self, pdf: bytes, serial: str) -> GuardRefused | None:
        """Why ``pdf`` must not be printed (:mod:`wire.print_guard`), checked against the card this kiosk
        read; None when every sheet is sheet i of n of ``serial`` for that card, signed by the city."""
        try:
            check_sheets(pdf, serial, hashlib.sha256(self.visit.certificate).digest(), self.issuing_key)
        except GuardRefused as refused:
            return refused
        return None

    async def _retried(self, call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any] | None:
        """A report the server must hear (print report, session end): tried again on a lost answer."""
        for attempt in range(1, REPORT_ATTEMPTS + 1):
            try:
                return await call()
            except HttpError as exc:
                if exc.status not in (0, 502, 503, 504) or attempt == REPORT_ATTEMPTS:
                    log.warning("the server refused or did not answer: %s", exc.code)
                    return None
                await asyncio.sleep(self.retry_pause_s * attempt)
        return None

    async def _settle(self, paid: Paid, server: dict[str, Any] | None) -> None:
        """Give back what the server recorded as refunded for ``paid`` (or, when the server cannot say,
        what was not printed) and the device has not yet given. A device that fails to refund is noted
        (``refund_failed``): the amount stays owed and the resident is sent to the store's staff."""
        due = int(server["refunded_yen"]) if server else paid.amount_yen - paid.kept_yen
        owed = due - paid.refunded_yen
        if owed <= 0:
            return
        try:
            await self.payment.refund(paid.reference, owed)
        except Exception:
            log.exception("the payment device did not refund %d yen", owed)
            paid.refund_failed_yen = owed
            return
        paid.refunded_yen += owed
        paid.refund_failed_yen = 0
        log.info("refunded %d yen", owed)
        self._changed_now()

    async def _end_server_session(self) -> None:
        """End the server's session (it voids what was not printed and says what it refunded), then
        give back what is owed on every payment of the visit."""
        v = self.visit
        answer: dict[str, Any] | None = None
        session_id = v.session_id
        if session_id and self.journal is not None and _printer_may_print(v.certificates):
            # Ending it would void a certificate the printer may still print: the journal keeps the session
            # open and kiosk.unfinished finishes it once the printer (and the server) say what came out.
            log.warning("session %s left open: a print whose end is not known", session_id)
            v.session_id, v.nonce = "", ""
            return
        if session_id:
            v.session_id, v.nonce = "", ""
            answer = await self._retried(lambda: self.api.end_session(session_id))
        recorded = {p["payment_reference"]: p for p in (answer or {}).get("payments", [])}
        for paid in v.payments.values():
            await self._settle(paid, recorded.get(paid.reference))
        settled = answer is not None and not any(p.refund_failed_yen for p in v.payments.values())
        if self.journal is not None and session_id and settled:
            self.journal.settled(session_id)  # else the next start finishes it (kiosk.unfinished)

    async def _end_visit(self, message: dict[str, Any]) -> None:
        """End the server session (refunding what is owed), release the card; then the take-card
        reminder, or straight back to the start when the card is already out."""
        self._ending = True
        try:
            await self._end_server_session()
            with contextlib.suppress(Exception):
                await self.card.close()
        finally:
            self._ending = False
        self._leave(message)

    def _leave(self, message: dict[str, Any]) -> None:
        """Nothing of the resident stays on screen but what happened (with what was refunded, or what a
        failed refund still owes): the take-card alarm while a card is in the reader, else the done
        screen, both in the session's language."""
        payments = self.visit.payments.values()
        refunded = sum(p.refunded_yen for p in payments)
        owed = sum(p.refund_failed_yen for p in payments)
        if owed:
            message = _msg("refund_failed", owed_yen=owed)
        elif refunded:
            message = {**message, "params": {**message.get("params", {}), "refunded_yen": refunded}}
        done = [{"serial": c["serial"], "status": c["status"]} for c in self.visit.certificates]
        self.last_printed = [c for c in self.visit.certificates if c["status"] == "printed"]
        # what is left keeps the totals and the serials to take, nothing about the resident
        self.visit = Visit(payments=self.visit.payments, certificates=done, form=self.visit.form)
        self._go(Event.ENDED_WITH_CARD if self.card_present else Event.FINISHED, message)

    def _wipe(self) -> None:
        """Nothing of the resident stays: back to the first screen, in the first language."""
        self.visit = Visit()
        self.last_printed = []
        self.language = self.languages[0]
        self._go(Event.WIPED)

    def _item(self, kind: str) -> dict[str, Any] | None:
        return next((i for i in self.visit.menu or [] if i["kind"] == kind), None)


def _printer_may_print(certificates: list[dict[str, Any]]) -> bool:
    """A job whose end is not known (the kiosk stopped while it printed) or a print in doubt the server has
    not been told of."""
    return any(
        c["status"] == "printing" or (c["status"] == "in_doubt" and not c.get("kept")) for c in certificates
    )


def _msg(code: str, **params: Any) -> dict[str, Any]:
    return {"code": code, "params": params}
