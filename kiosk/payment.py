"""The store's payment device: what the kiosk app asks of it, and a simulated device for demos and tests.

A real store terminal plugs in its own device behind :class:`PaymentDevice`. The simulated one takes its
outcomes from a script (paid, cancelled, insufficient, device_error), or in manual mode waits until a
demo panel or a test decides, and keeps a ledger of what it took and gave back.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
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
    async def pay(self, amount_yen: int) -> PaymentResult:
        """Take ``amount_yen``; returns when the resident paid, cancelled or the device failed."""
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


@dataclass
class SimulatedPaymentDevice:
    """Outcomes come from ``script`` (then ``default``); with ``manual`` each payment waits for
    :meth:`resolve` (the demo's panel)."""

    default: PaymentOutcome = PaymentOutcome.PAID
    manual: bool = False
    script: list[PaymentOutcome] = field(default_factory=list)
    ledger: dict[str, LedgerEntry] = field(default_factory=dict)
    _waiting: asyncio.Future[PaymentOutcome] | None = None
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

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

    async def pay(self, amount_yen: int) -> PaymentResult:
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
        self.ledger[reference] = LedgerEntry(amount_yen)
        return PaymentResult(outcome, amount_yen, reference)

    async def cancel(self) -> None:
        self.resolve(PaymentOutcome.CANCELLED)

    async def refund(self, reference: str, amount_yen: int) -> None:
        entry = self.ledger[reference]
        if entry.refunded_yen + amount_yen > entry.paid_yen:
            raise ValueError(f"refund of {amount_yen} yen exceeds what payment {reference} took")
        entry.refunded_yen += amount_yen

    def totals(self) -> tuple[int, int]:
        """(taken, given back) over every payment, yen."""
        return (
            sum(e.paid_yen for e in self.ledger.values()),
            sum(e.refunded_yen for e in self.ledger.values()),
        )
