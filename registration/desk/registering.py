"""The one card registration a desk runs at a time (it has one reader and one customer display): started by
a clerk, followed on their page while the resident types on the display, cancelled by them (only while the
display still asks: once the PINs are in, the server may already be binding the card) or by their logout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from registration.desk.words import Said


@dataclass
class Registering:
    atena_no: str
    staff_sid: str
    outcome: Said | None = None  # set by the work when it ends, or by a cancel
    ok: bool = False
    linking: bool = False  # a smartphone linked (registration.desk.pages.phone), not a card registered
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.task is None or self.task.done()


class RegistrationSlot:
    def __init__(self) -> None:
        self.current: Registering | None = None

    def busy(self) -> bool:
        return self.current is not None and not self.current.done

    def start(
        self,
        atena_no: str,
        staff_sid: str,
        work: Callable[[Registering], Coroutine[Any, Any, None]],
        linking: bool = False,
    ) -> Registering:
        """Taken at once, before anything is awaited, so a second click or clerk finds it busy."""
        registering = Registering(atena_no, staff_sid, linking=linking)
        registering.task = asyncio.get_running_loop().create_task(work(registering))
        self.current = registering
        return registering

    def of(self, staff_sid: str, atena_no: str | None = None) -> Registering | None:
        """The registration this clerk started (for this resident, when given)."""
        r = self.current
        if r is None or r.staff_sid != staff_sid or (atena_no is not None and r.atena_no != atena_no):
            return None
        return r

    async def cancel(self, registering: Registering, outcome: Said) -> None:
        if registering.task is not None and not registering.task.done():
            registering.outcome = outcome
            registering.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await registering.task

    def taken(self, registering: Registering) -> Said | None:
        """The outcome, once, and the slot free again."""
        if self.current is registering:
            self.current = None
        return registering.outcome
