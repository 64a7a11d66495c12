"""The kiosk API (``/api/kiosk/v1``): sessions, card authentication, menu, issue, fetch, print reports."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from aiohttp import web

from issuance_server.access import KIOSK, Rule, actor_of, allow
from issuance_server.api_errors import ApiError, field, json_response, read_json
from issuance_server.audit.trail import Actor
from issuance_server.cluster.nodes import runs_still
from issuance_server.core import ServerCore, core_of
from issuance_server.issuing import documents, issuance
from issuance_server.issuing.eligibility import Facts, Policy, refusal_for
from issuance_server.issuing.issuance import IssueRequest
from issuance_server.kiosks import menu as kiosk_menu
from issuance_server.kiosks import store as kiosk_store
from issuance_server.kiosks.sessions import KioskSession
from issuance_server.payments import ledger as payments
from issuance_server.registrations import phone_links
from issuance_server.registrations import store as registrations
from issuance_server.registrations.pin_attempts import (
    PinCheck,
    check_pin,
    check_without_pin,
    lock_blocked_card,
)
from issuance_server.replica.facts import facts_and_as_of, resolve_members
from issuance_server.server_tls import forwarded_certificate
from issuance_server.storage.engine import Tx
from wire.clock import utc_now, utc_now_iso
from wire.credentials import Form
from wire.kiosk_api import Channel, ErrorCode, Mode, auth_message, link_digest
from wire.tls import peer_certificate

T = TypeVar("T")

routes = web.RouteTableDef()


async def authenticate_kiosk(request: web.Request, rule: Rule) -> Actor:
    """The access middleware's authenticator for kiosk routes: the TLS client certificate the handshake
    verified against the kiosk CA must be the current one of an enrolled kiosk; the kiosk id is the one
    enrolled with it, and an ``X-Kiosk-Id`` that names another kiosk is refused. Behind a TLS proxy
    (``plain_http``) the certificate is the one the proxy forwards with its secret."""
    core = core_of(request)
    transport = request.transport
    der = peer_certificate(transport.get_extra_info("ssl_object") if transport is not None else None)
    if der is None and core.settings.plain_http:
        der = forwarded_certificate(request.headers, core.secrets.proxy_secret)
    if der is None:
        raise ApiError(
            401,
            ErrorCode.KIOSK_UNAUTHORIZED,
            "kiosk routes need the kiosk's TLS client certificate (enrol the kiosk with konbini-ops kiosk-add)",
        )
    kiosk_id = await core.enrolled_kiosks.kiosk_of(core.db, der)
    if kiosk_id is None:
        raise ApiError(
            401,
            ErrorCode.KIOSK_UNAUTHORIZED,
            "this kiosk certificate is not enrolled or the kiosk was removed",
        )
    claimed = request.headers.get("X-Kiosk-Id")
    if claimed is not None and claimed != kiosk_id:
        raise ApiError(403, ErrorCode.KIOSK_MISMATCH, "X-Kiosk-Id names another kiosk than the certificate")
    return Actor("kiosk", kiosk_id, kiosk_id, request.remote or "")


@dataclass(frozen=True)
class Step:
    """A kiosk step on one of its sessions. The session lives in the database (any node serves any step):
    the step's own first transaction reads it (``session``, ``holder``), so it costs no trip of its own."""

    core: ServerCore
    actor: Actor
    session_id: str
    now: float

    def session(self, tx: Tx, writing: bool = True) -> KioskSession:
        return self.core.sessions.seen(tx, self.session_id, self.actor.actor_id, self.now, writing)

    def holder(self, tx: Tx, writing: bool = True) -> tuple[KioskSession, str]:
        """The session and its card holder, whose registration is still active (``_holder``)."""
        session = self.session(tx, writing)
        return session, _holder(session, tx)

    async def parsed(self, parse: Callable[[], Awaitable[T]], signed_in: bool = True) -> T:
        """``parse()`` the request; if it is malformed, an unknown, expired or (``signed_in``) not yet
        authenticated session says so first, as it would with a well-formed request."""
        try:
            return await parse()
        except ApiError:
            session = await self.core.sessions.get(self.session_id, self.actor.actor_id)
            if signed_in:
                _signed_in(session)
            raise


REQUEST_ID = "X-Request-Id"  # the kiosk client's id of one step, the same on every try of it


def request_id_of(request: web.Request) -> str | None:
    """The step's request id (None: not sent); one that is not 1-64 letters, digits, '-', '_' or '.' is
    refused."""
    value = request.headers.get(REQUEST_ID)
    if value is None:
        return None
    if not 1 <= len(value) <= 64 or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in value):
        raise ApiError(
            400,
            ErrorCode.BAD_FIELD,
            f"{REQUEST_ID} must be 1-64 letters, digits, '-', '_' or '.'",
            field=REQUEST_ID,
        )
    return value


def kiosk_step(request: web.Request) -> Step:
    core = core_of(request)
    return Step(core, actor_of(request), request.match_info["session_id"], core.sessions.now())


def _signed_in(session: KioskSession) -> str:
    if session.atena_no is None:
        raise ApiError(401, ErrorCode.NOT_AUTHENTICATED, "authenticate with the card and PIN first")
    return session.atena_no


def _holder(session: KioskSession, tx: Tx) -> str:
    """The card holder of an authenticated session whose registration is still active (a card suspended
    at the desk mid-session, e.g. reported stolen, stops the session at its next step): the first read of
    every step after authentication, in the step's own transaction."""
    atena_no = _signed_in(session)
    assert session.registration_id is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    status = registrations.status_of(tx, session.registration_id) or "revoked"
    if status != "active":
        code = {"locked": ErrorCode.REGISTRATION_LOCKED, "suspended": ErrorCode.REGISTRATION_SUSPENDED}.get(
            status, ErrorCode.CARD_NOT_REGISTERED
        )
        raise ApiError(403, code, f"kiosk use is {status} for this card; please ask at the city hall")
    return atena_no


def _b64(data: dict[str, object], name: str, max_len: int) -> bytes:
    text = field(data, name, str)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, ErrorCode.BAD_FIELD, f"field '{name}' must be base64", field=name) from None
    if not raw or len(raw) > max_len:
        raise ApiError(400, ErrorCode.BAD_FIELD, f"field '{name}' has a wrong length", field=name)
    return raw


def service_status(core: ServerCore) -> tuple[str, dict[str, Any] | None]:
    """open / recovery / closed, and for closed the reason as a code with its parameters."""
    now = utc_now()
    reason: dict[str, Any] | None = None
    if not core.replica.ready:
        reason = {"code": "replica_not_loaded", "params": {}}
    elif core.mode == Mode.MAINTENANCE:
        reason = {"code": "maintenance", "params": {}}
    elif (closed := core.calendar.closed_reason(now)) is not None:
        reason = {"code": closed, "params": core.calendar.params(closed, now)}
    if reason is not None:
        return "closed", reason
    return (Mode.RECOVERY.value if core.mode == Mode.RECOVERY else "open"), None


def _refuse_while_held(core: ServerCore) -> None:
    """No new session and no new certificate while the audit trail is broken and not acknowledged."""
    if core.guard.hold is not None:
        raise ApiError(
            503, ErrorCode.AUDIT_HOLD,
            "the server's audit trail failed its check; ops must check it and acknowledge it"
            " (konbini-ops audit-verify, audit-acknowledge) before kiosks are served again",
        )  # fmt: skip


@routes.post("/sessions")
@allow(KIOSK)
async def open_session(request: web.Request) -> web.Response:
    actor = actor_of(request)
    core = core_of(request)
    _refuse_while_held(core)
    session = await core.sessions.open(
        actor.actor_id,
        lambda tx, session_id: core.audit.record(tx, actor, "session_open", "ok", session=session_id),
        request_id_of(request),
    )
    core.count("kiosk_sessions_total")
    service, reason = service_status(core)
    return json_response(
        {
            "session_id": session.session_id,
            "nonce": session.nonce,
            "nonce_expires_in_s": core.settings.nonce_ttl_s,
            "service": service,
            "service_reason": reason,
            "phones": core.credentials.for_kiosks(),
            "phone_linking": core.settings.kiosk_phone_linking and core.credentials.phones_accepted(),
        },
        status=201,
    )


def _pin_field(data: dict[str, object], required: bool = True) -> str | None:
    pin = field(data, "pin", str, required=required, default=None)
    if pin is not None and (len(pin) != 4 or not pin.isascii() or not pin.isdigit()):
        raise ApiError(400, ErrorCode.BAD_FIELD, "field 'pin' must be 4 digits", field="pin")
    return pin


async def _authentication(request: web.Request, core: ServerCore) -> tuple[str, bytes, bytes, str | None]:
    """The nonce, credential certificate, signature and PIN (None: not sent, a phone whose PIN the city
    leaves to the phone) of an authenticate request, checked for form."""
    data = await read_json(request, core.settings.max_body_bytes)
    nonce = field(data, "nonce", str)
    cert_der = _b64(data, "certificate", 8192)
    signature = _b64(data, "signature", 1024)
    return nonce, cert_der, signature, _pin_field(data, required=False)


@routes.post("/sessions/{session_id}/authenticate")
@allow(KIOSK)
async def authenticate(request: web.Request) -> web.Response:
    actor = actor_of(request)
    core = core_of(request)
    session_id = request.match_info["session_id"]
    try:
        nonce, cert_der, signature, pin = await _authentication(request, core)
    except ApiError:  # an unknown or expired session says so first, as at every other step
        await core.sessions.get(session_id, actor.actor_id)
        raise
    # The session read and its nonce spent in one trip, once the request is known to be well formed.
    digest = hashlib.sha256(nonce.encode() + b"\0" + signature).hexdigest()
    session = await core.sessions.get(session_id, actor.actor_id, spend_nonce=digest)
    if session.authenticated:
        if session.auth_digest == digest:  # this request again (its answer was lost): the same answer
            cert, card = core.credentials.check_certificate(cert_der, utc_now())
            return json_response({"authenticated": True, "card_id": card.serial, "form": card.form.value})
        raise ApiError(409, ErrorCode.SESSION_STATE, "this session is already authenticated")
    try:
        core.sessions.consume_nonce(session, nonce)
        cert, card = core.credentials.check_certificate(cert_der, utc_now())
        core.card_trust.check_signature(
            cert, auth_message(actor.actor_id, session.session_id, nonce), signature
        )
        asked = core.credentials.pin_required(card.form)
        if asked and pin is None:
            raise ApiError(
                400, ErrorCode.BAD_FIELD, f"a {card.form.value} signs in with its registered PIN here",
                field="pin",
            )  # fmt: skip
    except ApiError as exc:
        await core.audit.append(actor, "authenticate", exc.code, session=session.session_id)
        raise

    def record(tx: Tx, check: PinCheck) -> None:
        lock = (
            {"locked_now": True} if check.locked_now else {}
        )  # the attempt that locked it (the review counts)
        on_device = {} if asked else {"pin": "on_device"}
        core.audit.record(
            tx, actor, "authenticate", check.result, check.atena_no, card=card.serial, form=card.form.value,
            **lock, **on_device,
        )  # fmt: skip
        if check.atena_no is not None and check.registration_id is not None and check.result == "ok":
            kiosk_store.sign_in(
                tx,
                session.session_id,
                check.atena_no,
                check.registration_id,
                card.fingerprint,
                card.form.value,
            )
        else:  # counted once: the same request again is refused as a spent nonce
            kiosk_store.answered(tx, session.session_id)

    if asked:
        assert pin is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        check = await check_pin(core, card.fingerprint, pin, record)
    else:
        check = await check_without_pin(core, card.fingerprint, record)
    if check.result == "ok":
        return json_response({"authenticated": True, "card_id": card.serial, "form": card.form.value})
    if check.result == ErrorCode.CARD_NOT_REGISTERED:
        raise ApiError(
            403,
            ErrorCode.CARD_NOT_REGISTERED,
            "this card is not registered for kiosk use; please ask at the city hall",
        )
    if check.result == ErrorCode.PIN_WRONG:
        raise ApiError(
            401, ErrorCode.PIN_WRONG, f"wrong PIN; {check.tries_left} tries left", tries_left=check.tries_left
        )
    if check.result == ErrorCode.REGISTRATION_SUSPENDED:
        raise ApiError(403, check.result, "kiosk use is suspended for this card; please ask at the city hall")
    if not check.locked_now:
        raise ApiError(
            403, check.result, "kiosk use is locked for this card; please ask at the city hall to unlock it"
        )
    raise ApiError(
        403,
        ErrorCode.REGISTRATION_LOCKED,
        "too many wrong PINs: kiosk use is locked; please ask at the city hall to unlock it",
        tries_left=0,
    )


@routes.post("/sessions/{session_id}/card-blocked")
@allow(KIOSK)
async def card_blocked(request: web.Request) -> web.Response:
    """The card read in this session answered that its PIN is blocked (the kiosk asks the card for its tries
    left before the PIN, and hears it when the last try fails): an enrolled kiosk's claim, since a blocked
    card cannot sign. The card's registration is locked (reversible at the desk) and audited as the kiosk's
    report; the resident is sent to the city hall either way."""
    actor = actor_of(request)
    core = core_of(request)
    session_id = request.match_info["session_id"]
    data = await read_json(request, core.settings.max_body_bytes)
    cert_der = _b64(data, "certificate", 8192)
    # One claim a session, instead of signing in: it spends the session's nonce (the same report again,
    # its answer lost, is answered again), and a session that signed in has a card that is not blocked.
    digest = hashlib.sha256(b"card-blocked\0" + cert_der).hexdigest()
    session = await core.sessions.get(session_id, actor.actor_id, spend_nonce=digest)
    if session.authenticated or session.nonce_used:
        await core.audit.append(actor, "card_pin_blocked", ErrorCode.SESSION_STATE, session=session_id)
        raise ApiError(409, ErrorCode.SESSION_STATE, "a card-blocked report is for a session not signed in")
    try:
        _cert, card = core.credentials.check_certificate(cert_der, utc_now())
        if card.form == Form.IPHONE:
            raise ApiError(409, "not_a_card", "an iPhone-form phone has no PIN at the terminal to be blocked")
    except ApiError as exc:
        await core.audit.append(actor, "card_pin_blocked", exc.code, session=session_id)
        raise

    def lock(tx: Tx) -> str:
        result, atena_no = lock_blocked_card(tx, card.fingerprint, utc_now_iso())
        core.audit.record(
            tx, actor, "card_pin_blocked", result, atena_no, card=card.serial, session=session_id
        )
        return result

    result = await core.db.write(lock)
    return json_response(
        {"card_id": card.serial, "result": result, "locked": result in ("locked", "already_locked")}
    )


@routes.post("/sessions/{session_id}/phones")
@allow(KIOSK)
async def link_phone(request: web.Request) -> web.Response:
    """The resident signed in with the card links the phone now on the reader (the city may turn this off:
    ``kiosk_phone_linking``): the phone signs the session's link digest, and its PIN becomes its registered
    PIN. Once a session."""
    step = kiosk_step(request)
    core = step.core

    async def parse() -> tuple[bytes, bytes, str]:
        data = await read_json(request, core.settings.max_body_bytes)
        pin = _pin_field(data)
        assert pin is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        return _b64(data, "certificate", 8192), _b64(data, "signature", 1024), pin

    cert_der, signature, pin = await step.parsed(parse)
    session, atena_no = await core.db.read(lambda tx: step.holder(tx, writing=False))
    assert session.registration_id is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    digest = link_digest(step.actor.actor_id, step.session_id)
    async with core.pin_turns.hold(f"link:{step.session_id}"):
        linked = await phone_links.link_at_kiosk(
            core, step.actor, atena_no, session.registration_id, cert_der, signature, digest, pin
        )
    return json_response(linked, status=201)


async def _facts_and_policy(step: Step) -> tuple[str, Facts, Policy]:
    """The session, its holder, their facts and the one kiosk policy (mode and data-as-of read with them), in
    one read; the session's last sight written after it when due."""
    core = step.core
    now = utc_now()
    mode = core.mode

    def read(tx: Tx) -> tuple[KioskSession, str, Facts, str]:
        session, atena_no = step.holder(tx, writing=False)
        if not core.replica.ready:
            raise ApiError(503, ErrorCode.SERVICE_CLOSED, "the resident replica is not loaded yet")
        return session, atena_no, *facts_and_as_of(core, atena_no, now, tx)

    session, atena_no, facts, as_of = await core.db.read(read)
    await core.sessions.touch_if_due(session, step.now)
    return atena_no, facts, issuance.policy_of(core, Channel.KIOSK, mode, as_of, now)


@routes.get("/sessions/{session_id}/menu")
@allow(KIOSK)
async def menu(request: web.Request) -> web.Response:
    step = kiosk_step(request)
    core = step.core
    _atena_no, facts, policy = await _facts_and_policy(step)
    items = kiosk_menu.menu_for(core, step.session_id, facts, policy)
    service, reason = service_status(core)
    return json_response({"service": service, "service_reason": reason, "items": items})


@routes.post("/sessions/{session_id}/quotes")
@allow(KIOSK)
async def quote(request: web.Request) -> web.Response:
    """The fee for the chosen certificates, decided by the same rules as the issue; nothing is issued."""
    step = kiosk_step(request)
    core, actor = step.core, step.actor

    async def parse() -> tuple[int, tuple[IssueRequest, list[str]]]:
        data = await read_json(request, core.settings.max_body_bytes)
        return issuance.copies_of(data), issuance.request_from_body(data)

    copies, (req, member_ids) = await step.parsed(parse)
    request_id = request_id_of(request)
    atena_no, facts, policy = await _facts_and_policy(step)
    if member_ids:
        req = dataclasses.replace(req, members=resolve_members(step.session_id, facts, member_ids))
    try:
        refusal = refusal_for(req, facts, policy)
    except ValueError as exc:
        raise ApiError(400, ErrorCode.BAD_FIELD, str(exc)) from None
    if refusal is not None:
        await core.audit.append(actor, "quote", "refused", atena_no, kind=req.kind, reason=refusal.code)
        raise issuance.refused(refusal, Channel.KIOSK)
    wanted = {
        "kind": req.kind,
        "scope": req.scope,
        "members": member_ids,
        "options": sorted(req.options),
        "fiscal_year": req.fiscal_year,
    }
    fee = core.settings.kiosk_fees_yen[req.kind]

    def create(tx: Tx) -> payments.Quote:
        step.session(tx)  # still live (and seen)
        if request_id is not None and (made := payments.quote_of_request(tx, step.session_id, request_id)):
            return made  # this step again: the quote it made, not another
        q = payments.create_quote(tx, step.session_id, actor.actor_id, wanted, copies, fee, request_id)
        core.audit.record(
            tx, actor, "quote", "ok", atena_no, kind=req.kind, copies=copies, total_yen=q.total_yen
        )
        return q

    q = await core.db.write(create)
    return json_response(
        {
            "quote_id": q.quote_id,
            "kind": req.kind,
            "copies": copies,
            "fee_yen": q.fee_yen,
            "total_yen": q.total_yen,
        },
        status=201,
    )


@routes.post("/sessions/{session_id}/certificates")
@allow(KIOSK)
async def issue(request: web.Request) -> web.Response:
    """Issue a paid quote. A retry of the same quote and payment gets the first answer: nothing is issued
    or charged twice. A refusal after payment records the refund against the payment."""
    step = kiosk_step(request)
    core, actor = step.core, step.actor
    _refuse_while_held(core)

    async def parse() -> tuple[str, str]:
        data = await read_json(request, core.settings.max_body_bytes)
        quote_id = field(data, "quote_id", str)
        reference = field(data, "payment_reference", str)
        if not 1 <= len(reference) <= 64 or not reference.isascii() or not reference.isprintable():
            raise ApiError(
                400, ErrorCode.BAD_FIELD, "payment_reference must be 1-64 printable ASCII characters",
                field="payment_reference",
            )  # fmt: skip
        return quote_id, reference

    quote_id, reference = await step.parsed(parse)
    owner, now = core.node.incarnation, core.wall_clock()  # claims and liveness: the nodes' wall clocks
    claimant = payments.Claimant(owner, now, core.settings.issue_claim_s, runs_still(now))

    def claim(tx: Tx) -> tuple[KioskSession, str, payments.Quote]:
        # The session's end refunds the quotes it finds being issued; one ended after this request came in
        # but before this claim would not find this one: refused here, in the claim's transaction.
        session, atena_no = step.holder(tx)
        return session, atena_no, payments.start_issue(tx, step.session_id, quote_id, reference, claimant)

    session, atena_no, q = await core.db.write(claim)
    if q.status == "refunded":
        raise ApiError(
            409, ErrorCode.SESSION_STATE, "this quote was refunded; ask for a new quote", payment=q.as_json()
        )
    if q.status == "issued":  # a retry: the first answer again
        assert q.answer is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        return json_response({**q.answer, "payment": q.as_json()}, status=201)
    req, member_ids = issuance.request_from_body(q.request)
    try:
        issued = await issuance.issue(
            core, actor, Channel.KIOSK, atena_no, req, q.copies,
            session_id=step.session_id, member_ids=member_ids, payment_id=quote_id,
            requester_sha256=bytes.fromhex(session.credential_sha256) if session.credential_sha256 else None,
            credential_form=session.credential_form,
        )  # fmt: skip
    except ApiError as exc:
        if exc.status == 503:  # passing: the same paid quote may be tried again
            await core.db.write(partial(payments.release, quote_id=quote_id, owner=owner))
            raise

        def refund(tx: Tx) -> dict[str, Any]:
            payments.refund_in_full(tx, quote_id)
            return payments.quote_of(tx, step.session_id, quote_id).as_json()

        exc.details["payment"] = await core.db.write(refund)
        raise
    except BaseException:
        await core.db.write(partial(payments.release, quote_id=quote_id, owner=owner))
        raise
    # The quote as issued: its answer is what was just stored with it, its payment unchanged since claimed.
    return json_response({**issuance.issued_json(issued), "payment": q.as_json()}, status=201)


@routes.get("/sessions/{session_id}/certificates/{serial}/pdf")
@allow(KIOSK)
async def fetch_pdf(request: web.Request) -> web.Response:
    step = kiosk_step(request)
    core, actor = step.core, step.actor
    serial = request.match_info["serial"]

    def fetch(tx: Tx) -> bytes:
        _session, atena_no = step.holder(tx)
        pdf = documents.document_for_session(tx, step.session_id, serial)
        core.audit.record(tx, actor, "fetch_pdf", "ok", atena_no, serial=serial)
        return pdf

    pdf = await core.db.write(fetch)
    return web.Response(body=pdf, content_type="application/pdf")


@routes.post("/sessions/{session_id}/certificates/{serial}/print-report")
@allow(KIOSK)
async def print_report(request: web.Request) -> web.Response:
    step = kiosk_step(request)
    core, actor = step.core, step.actor

    async def parse() -> tuple[bool, documents.GuardReport | None, bool]:
        return documents.kiosk_print_report_of(await read_json(request, core.settings.max_body_bytes))

    printed, guard, in_doubt = await step.parsed(parse)
    serial = request.match_info["serial"]

    def report(tx: Tx) -> tuple[str, str | None]:
        step.holder(tx)
        return documents.report_print(
            tx, core.audit, actor, step.session_id, serial, printed, guard, in_doubt=in_doubt
        )

    return await _print_reported(core, serial, report)


@routes.post("/certificates/{serial}/print-report")
@allow(KIOSK)
async def print_report_after_session(request: web.Request) -> web.Response:
    """A certificate of this kiosk whose print was in doubt, reported once its printer answers (its session
    long ended): printed, or not (voided, refunded); or marked in doubt by a kiosk that restarted."""
    core, actor = core_of(request), actor_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    printed, guard, in_doubt = documents.kiosk_print_report_of(data)
    if guard is not None:
        raise ApiError(400, ErrorCode.BAD_FIELD, "the print guard reports in the session", field="guard")
    serial = request.match_info["serial"]

    def report(tx: Tx) -> tuple[str, str | None]:
        return documents.report_print(tx, core.audit, actor, None, serial, printed, in_doubt=in_doubt)

    return await _print_reported(core, serial, report)


async def _print_reported(
    core: ServerCore, serial: str, report: Callable[[Tx], tuple[str, str | None]]
) -> web.Response:
    """``report`` (the certificate's new status and its quote) in one write, answered with the payment as
    it now stands, so the kiosk gives back exactly what was refunded."""

    def reported(tx: Tx) -> tuple[str, dict[str, Any] | None]:
        status, quote_id = report(tx)
        return status, payments.payment_of(tx, quote_id)

    status, payment = await core.db.write(reported)
    return json_response({"serial": serial, "status": status, "payment": payment})


@routes.delete("/sessions/{session_id}")
@allow(KIOSK)
async def end_session(request: web.Request) -> web.Response:
    step = kiosk_step(request)
    core, actor = step.core, step.actor

    def end(tx: Tx) -> list[dict[str, Any]]:
        found = kiosk_store.session(tx, step.session_id)
        if found is not None and found.ended and found.kiosk_id == actor.actor_id:
            return payments.of_session(tx, found.session_id)  # ended again (its answer was lost): the same
        session = step.session(tx)
        kiosk_store.end(tx, session.session_id)
        payments.close_session(tx, session.session_id)  # first: no issue completes after this
        voided = documents.void_unprinted(
            tx, core.audit, actor, "session ended before printing", session_id=session.session_id
        )
        settled = payments.of_session(tx, session.session_id)
        core.audit.record(
            tx, actor, "session_end", "ok", session.atena_no, session=session.session_id, voided=voided,
            refunded_yen=sum(p["refunded_yen"] for p in settled),
        )  # fmt: skip
        return settled

    settled = await core.db.write(end)
    return json_response({"ended": True, "payments": settled})


def make_kiosk_app() -> web.Application:
    app = web.Application()
    app.add_routes(routes)
    return app
