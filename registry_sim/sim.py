"""One running registry sim: its store (read side and the one writer), its faults, its change generator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from registry_sim.changelog import StoreWriter
from registry_sim.churn import Churn
from registry_sim.faults import Faults
from registry_sim.feed import FeedReader
from registry_sim.store import StoreReader

T = TypeVar("T")


class Sim:
    """Shared by the handlers of one application. Writes run one at a time on a dedicated thread."""

    def __init__(self, db_path: Path | str, faults: Faults | None = None, keep_changes: int = 0) -> None:
        self.path = Path(db_path)
        self.store = StoreReader(self.path)
        self.reader = FeedReader(self.path)
        self.writer = StoreWriter(self.path, keep_changes)
        self.faults = faults if faults is not None else Faults()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="registry-writer")
        self.churn = Churn(self.write)

    async def write(self, fn: Callable[[StoreWriter], T]) -> T:
        """Run ``fn(writer)`` on the writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self.writer)

    async def open(self) -> None:
        """Bring an existing store's schema up to date (stores built before the change log existed)."""
        if self.path.exists():
            await self.write(StoreWriter.connection)

    async def close(self) -> None:
        await self.churn.stop()
        await self.write(StoreWriter.close)
        self._executor.shutdown(wait=True)
