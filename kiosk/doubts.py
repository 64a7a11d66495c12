"""Prints in doubt: the printer had the job and stopped answering (its service died mid-job) before it said
whether the page came out, and could not be asked to cancel it. A printer service that comes back resumes
its jobs, so such a certificate is neither printed nor voided: the server keeps it (no session end or sweep
voids it) and the fee stays with the city until the printer answers. Then the kiosk reports what came out
(printed: kept; not, after cancelling it: voided and refunded by the device), whenever that is: at the next
start and every ``doubt_retry_s`` between residents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from devices.printing import Printer
from kiosk.journal import Journal
from kiosk.payment import PaymentDevice
from kiosk.unfinished import ServerSteps, settle_order
from wire.http_json import HttpError

log = logging.getLogger("konbini.kiosk")


@dataclass
class Settled:
    printed: int = 0
    not_printed: int = 0
    refunded_yen: int = 0
    owed_yen: int = 0  # the device could not give it back: the store's staff must
    still_in_doubt: int = 0  # the printer (or the server) does not answer yet
    refused: int = 0  # the server had already ended it otherwise: settled by hand (logged)

    def __str__(self) -> str:
        return (
            f"prints in doubt: {self.printed} printed, {self.not_printed} not printed, {self.refunded_yen} yen"
            f" refunded, {self.owed_yen} yen owed, {self.still_in_doubt} still in doubt"
            + (f", {self.refused} refused by the server" if self.refused else "")
        )

    @property
    def anything(self) -> bool:
        return bool(self.printed or self.not_printed or self.refused)


async def settle_doubts(
    journal: Journal,
    api: ServerSteps,
    device: PaymentDevice,
    printer: Printer,
    idle: Callable[[], bool] = lambda: True,
) -> Settled:
    """Ask the printer about each print in doubt and settle those it answers for, while ``idle`` (no
    resident's visit: the device and the queue are theirs then; the rest waits for the next round)."""
    done = Settled()
    for doubt in journal.doubts():
        if not idle():
            done.still_in_doubt += 1
            continue
        try:
            if not doubt.reported:  # the server must keep it before anything else
                await api.report_doubt(doubt.serial, None)
                journal.doubt_reported(doubt.serial)
        except HttpError as exc:
            if exc.status != 409:  # no answer, or not now (401, 403, 429, ...): the next round
                log.warning("print in doubt %s not kept by the server yet: %s", doubt.serial, exc.code)
                done.still_in_doubt += 1
                continue
            # 409: the server ended it otherwise (its sweep, the city hall): the printer must not print it
        result = await printer.outcome(doubt.job, doubt.serial)  # cancelled unless it came out
        if result.in_doubt:
            done.still_in_doubt += 1
            continue
        try:
            answer = await api.report_doubt(doubt.serial, result.printed)  # voided already: the same answer
        except HttpError as exc:
            if exc.status != 409:
                done.still_in_doubt += 1
                continue
            log.error(
                "print in doubt %s came out, but the server had ended it otherwise (%s): take the page back",
                doubt.serial,
                exc.code,
            )
            journal.doubt_settled(doubt.serial)
            done.refused += 1
            continue
        log.info("print in doubt %s: %s", doubt.serial, result.code)
        refunded, owed = await settle_order(doubt.order_id, answer.get("payment"), device)
        done.printed += result.printed
        done.not_printed += not result.printed
        done.refunded_yen += refunded
        done.owed_yen += owed
        if not owed:  # else asked again next round (the server answers the same, the device refunds once)
            journal.doubt_settled(doubt.serial)
    return done
