"""Demo only: the virtual demo card put into / taken out of the vpcd reader from the touchscreen's demo
panel (``konbini-kiosk serve --demo --demo-card FILE``). It runs ``konbini-card run`` as a child process,
exactly as a resident's card in a real reader would appear to pcscd."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path


class DemoCard:
    def __init__(self, card_file: Path, vpcd_port: int) -> None:
        self.card_file = card_file
        self.vpcd_port = vpcd_port
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def inserted(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def insert(self) -> None:
        if self.inserted:
            return
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "devices.card.cli", "run", str(self.card_file), "--port", str(self.vpcd_port),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    async def remove(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
