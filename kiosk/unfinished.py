"""At the kiosk app's start: finish what a kiosk that died left open in its journal (:mod:`kiosk.journal`).

The server's books are the authority and the payment device's own ledger says what it took and gave back:
for each open session the kiosk reports what it printed (or did not), ends the server's session (which voids
what was not printed and says what it refunded), then gives back, once, what the device took and the
resident did not get. A server that cannot be reached leaves the session open for the next start (its
sweep voids and refunds a session no kiosk ends). A certificate whose print job was handed to the printer
and whose end the journal does not know (``printing``) is asked of the printer by the job's reference the
journal kept: printed if the job completed, else cancelled and not printed
(:meth:`devices.printing.Printer.outcome`); when the printer does not answer, the certificate is in doubt,
kept by the server, and :mod:`kiosk.doubts` settles it once the printer answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from devices.printing import Printer
from kiosk.journal import Journal, OpenSession
from kiosk.payment import PaymentDevice
from wire.http_json import HttpError

log = logging.getLogger("konbini.kiosk")


class ServerSteps(Protocol):
    async def report_print(self, session_id: str, serial: str, printed: bool) -> dict[str, Any]: ...

    async def report_doubt(self, serial: str, printed: bool | None) -> dict[str, Any]: ...

    async def end_session(self, session_id: str) -> dict[str, Any]: ...


@dataclass
class Finished:
    sessions: int = 0
    reported: int = 0
    refunded_yen: int = 0
    owed_yen: int = 0  # the device could not give it back: the store's staff must
    left_open: int = 0  # the server could not be reached: tried again at the next start

    def __str__(self) -> str:
        return (
            f"finished {self.sessions} session(s) left open: {self.reported} print report(s),"
            f" {self.refunded_yen} yen refunded, {self.owed_yen} yen owed, {self.left_open} left for later"
        )


def answer_lost(exc: HttpError) -> bool:
    """No answer, or the server could not give one: asked again later (anything else is its answer)."""
    return exc.status == 0 or exc.status >= 500


async def finish_unfinished(
    journal: Journal,
    api: ServerSteps,
    device: PaymentDevice,
    printer: Printer,
    idle: Callable[[], bool] = lambda: True,
) -> Finished:
    """Each open session of the journal finished while ``idle`` (no resident's visit); the rest is left for
    the next round."""
    done = Finished()
    for session in journal.open_sessions():
        if not idle():
            done.left_open += 1
            continue
        try:
            await _learn_print_outcomes(journal, printer, api, session)
            done.reported += await _report(journal, api, session)
            answer = await api.end_session(session.session_id)
        except HttpError as exc:
            if answer_lost(exc):
                log.warning(
                    "session %s left open: the server did not answer (%s)", session.session_id, exc.code
                )
                done.left_open += 1
                continue
            answer = {
                "payments": []
            }  # the server no longer knows the session: the journal says what was kept
            log.warning(
                "session %s unknown to the server (%s): given back all but what was printed or is in doubt",
                session.session_id,
                exc.code,
            )
        refunded, owed = await _settle(session, answer.get("payments", []), device)
        done.refunded_yen += refunded
        done.owed_yen += owed
        done.sessions += 1
        if not owed:
            journal.settled(session.session_id)
    return done


async def _learn_print_outcomes(
    journal: Journal, printer: Printer, api: ServerSteps, session: OpenSession
) -> None:
    """Jobs handed to the printer before the kiosk died: printed or not, as the printer says; in doubt when
    it does not answer, and then kept by the server before the session's end could void it."""
    for payment in session.payments:
        for cert in payment.certificates:
            if cert.state == "printing":
                result = await printer.outcome(cert.job, cert.serial)
                log.info("print job of %s, left by a kiosk that died: %s", cert.serial, result.code)
                if result.in_doubt:
                    journal.in_doubt(cert.serial)
                    cert.state = "in_doubt"
                else:
                    journal.printed(cert.serial, result.printed)
                    cert.state = "printed" if result.printed else "not_printed"
            if cert.state == "in_doubt" and not cert.reported:
                try:
                    await api.report_doubt(cert.serial, None)
                except HttpError as exc:
                    if answer_lost(exc):
                        raise  # the session waits for the next start
                    log.error("the server would not keep %s in doubt: %s", cert.serial, exc.code)
                journal.doubt_reported(cert.serial)
                cert.reported = True


async def _report(journal: Journal, api: ServerSteps, session: OpenSession) -> int:
    """Print reports the server did not get: what was printed, and what was not."""
    sent = 0
    for payment in session.payments:
        for cert in payment.certificates:
            if cert.reported or cert.state not in ("printed", "not_printed"):
                continue
            try:
                await api.report_print(session.session_id, cert.serial, cert.state == "printed")
            except HttpError as exc:
                if answer_lost(exc):
                    raise
                log.warning(
                    "print report of %s refused: %s", cert.serial, exc.code
                )  # e.g. voided by the sweep
            journal.reported(cert.serial)
            sent += 1
    return sent


async def _settle(
    session: OpenSession, recorded: list[dict[str, Any]], device: PaymentDevice
) -> tuple[int, int]:
    """(given back, still owed) over the session's payments (:func:`settle_order`)."""
    by_order = {str(p.get("quote_id")): p for p in recorded}
    refunded = owed = 0
    for payment in session.payments:
        kept = sum(c.fee_yen for c in payment.certificates if c.state in ("printed", "in_doubt"))
        given, due = await settle_order(payment.order_id, by_order.get(payment.order_id), device, kept)
        refunded += given
        owed += due
    return refunded, owed


async def settle_order(
    order_id: str, server: dict[str, Any] | None, device: PaymentDevice, kept_otherwise: int = 0
) -> tuple[int, int]:
    """(given back, still owed) for the payment of ``order_id``: what the device took less what the resident
    kept (the server's books: paid less refunded; ``kept_otherwise`` when the server has no such payment:
    what the journal says was printed or is in doubt) less what the device already gave back. Asked again,
    it gives back nothing more."""
    found = await device.payment_for(order_id)
    if found is None:
        return 0, 0  # the device took nothing for it
    reference, entry = found
    kept = kept_otherwise
    if server is not None and server.get("payment_reference") == reference:
        kept = int(server.get("paid_yen", 0)) - int(server.get("refunded_yen", 0))
    due = entry.paid_yen - kept - entry.refunded_yen
    if due <= 0:
        return 0, 0
    try:
        await device.refund(reference, due)
    except Exception:
        log.exception("the payment device did not refund %d yen of %s", due, reference)
        return 0, due
    return due, 0
