"""The store's payment device: what the kiosk app asks of it, and a simulated device for demos and tests.

A real store terminal plugs in its own device behind :class:`PaymentDevice`. The simulated one takes its
outcomes from a script (paid, cancelled, insufficient, device_error), or in manual mode waits until a
demo panel or a test decides, and keeps a ledger of what it took and gave back: in its own file when given
one (a real device keeps its own books), so that a kiosk app that dies does not take the money side with it.
Each payment names the kiosk's order (the quote it pays for): after a crash the kiosk asks the device what
became of an order (:meth:`PaymentDevice.payment_for`), and gives back only what the device has not.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class PaymentOutcome(StrEnum):
    PAID = "paid"
    CANCELLED = "cancelled"  # the resident pressed cancel at the device; nothing taken
    INSUFFICIENT = "insufficient"  # not enough money inserted; the device gave it back
    DEVICE_ERROR = "device_error"  # the device failed; nothing taken


@dataclass(frozen=True)
class PaymentResult:
    outcome: PaymentOutcome
    amount_yen: int
    reference: str | None = None  # the device's reference of a payment taken


class PaymentDevice(Protocol):
    async def pay(self, amount_yen: int, order: str = "") -> PaymentResult:
        """Take ``amount_yen`` for ``order``; returns when the resident paid, cancelled or the device failed."""
        ...

    async def payment_for(self, order: str) -> tuple[str, LedgerEntry] | None:
        """The payment the device took for ``order`` (its reference and what it took and gave back), if any."""
        ...

    async def cancel(self) -> None:
        """Stop a payment in progress (the card was pulled, the session timed out)."""
        ...

    async def refund(self, reference: str, amount_yen: int) -> None:
        """Give back ``amount_yen`` of the payment ``reference``."""
        ...


@dataclass
class LedgerEntry:
    paid_yen: int
    refunded_yen: int = 0
    order: str = ""  # the kiosk's order the payment was for (its quote id)


@dataclass
class SimulatedPaymentDevice:
    """Outcomes come from ``script`` (then ``default``); with ``manual`` each payment waits for
    :meth:`resolve` (the demo's panel)."""

    default: PaymentOutcome = PaymentOutcome.PAID
    manual: bool = False
    script: list[PaymentOutcome] = field(default_factory=list)
    ledger: dict[str, LedgerEntry] = field(default_factory=dict)
    ledger_file: Path | None = None  # the device's own books, kept across a kiosk crash (None: in memory)
    _waiting: asyncio.Future[PaymentOutcome] | None = None
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if self.ledger_file is not None and self.ledger_file.exists():
            kept = json.loads(self.ledger_file.read_text(encoding="utf-8"))
            self.ledger = {ref: LedgerEntry(**entry) for ref, entry in kept.items()}
            self._numbers = itertools.count(len(self.ledger) + 1)

    def _save(self) -> None:
        """The ledger to its file, whole and durable before the call returns (written aside, then renamed)."""
        if self.ledger_file is None:
            return
        aside = self.ledger_file.with_suffix(".tmp")
        data = json.dumps({ref: asdict(e) for ref, e in self.ledger.items()}).encode()
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(aside, self.ledger_file)
        folder = os.open(self.ledger_file.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    @property
    def waiting(self) -> bool:
        return self._waiting is not None and not self._waiting.done()

    def resolve(self, outcome: PaymentOutcome) -> bool:
        """The demo panel's answer to the payment waiting now; False when none waits."""
        if not self.waiting:
            return False
        assert self._waiting is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        self._waiting.set_result(outcome)
        return True

    async def pay(self, amount_yen: int, order: str = "") -> PaymentResult:
        if self.manual and not self.script:
            self._waiting = asyncio.get_running_loop().create_future()
            try:
                outcome = await self._waiting
            finally:
                self._waiting = None
        else:
            outcome = self.script.pop(0) if self.script else self.default
            await asyncio.sleep(0)
        if outcome is not PaymentOutcome.PAID:
            return PaymentResult(outcome, 0)
        reference = f"SIM-{next(self._numbers):06d}-{secrets.token_hex(3)}"
        self.ledger[reference] = LedgerEntry(amount_yen, order=order)
        self._save()
        return PaymentResult(outcome, amount_yen, reference)

    async def payment_for(self, order: str) -> tuple[str, LedgerEntry] | None:
        return next(((ref, e) for ref, e in self.ledger.items() if order and e.order == order), None)

    async def cancel(self) -> None:
        self.resolve(PaymentOutcome.CANCELLED)

    async def refund(self, reference: str, amount_yen: int) -> None:
        entry = self.ledger[reference]
        if entry.refunded_yen + amount_yen > entry.paid_yen:
            raise ValueError(f"refund of {amount_yen} yen exceeds what payment {reference} took")
        entry.refunded_yen += amount_yen
        self._save()

    def totals(self) -> tuple[int, int]:
        """(taken, given back) over every payment, yen."""
        return (
            sum(e.paid_yen for e in self.ledger.values()),
            sum(e.refunded_yen for e in self.ledger.values()),
        )
