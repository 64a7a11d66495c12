"""The replica's generations as the server uses them, on either engine: a full sync builds a new one with a
:class:`GenerationWriter`, switches it in, and drops the one before. SQLite keeps a file per generation
(``replica.store.Replica``), PostgreSQL a schema (``storage.postgres_replica.PgGenerations``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from issuance_server.storage.database import Database
from issuance_server.storage.engine import Engine, Tx


def unfenced(tx: Tx) -> None:
    """The fence of a writer that holds no registry lease on purpose: a test's or a bench's own database."""
    return None


class GenerationWriter(Protocol):
    """Builds one generation; not visible until switched in."""

    counts: dict[str, int]
    timings: dict[str, float]

    def insert(self, rtype: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def insert_rows(self, rtype: str, data: bytes, count: int) -> None: ...

    def finish(self, meta: dict[str, str]) -> None: ...

    def discard(self) -> None: ...


class ReplicaGenerations(Protocol):
    attached: str | None  # the generation in use (None before the first full sync)

    @property
    def ready(self) -> bool: ...

    def new_generation(self, stamp: str) -> str: ...

    def writer(self, name: str) -> GenerationWriter: ...

    async def attach_current(self) -> None: ...

    async def switch_to(
        self, name: str, seq: int, as_of: str, synced_at: str, fence: Callable[[Tx], None]
    ) -> str | None: ...

    def remove_generation(self, name: str) -> None: ...

    def reader(self) -> AbstractContextManager[Tx]: ...

    async def meta(self) -> dict[str, str]: ...


def replica_of(db: Engine, data_dir: Path) -> ReplicaGenerations:
    """The generations of ``db``'s engine (SQLite's files live in ``data_dir``)."""
    if isinstance(db, Database):
        from issuance_server.replica.store import Replica

        return Replica(db, data_dir)
    from issuance_server.storage.postgres import PostgresDatabase
    from issuance_server.storage.postgres_replica import PgGenerations

    assert isinstance(db, PostgresDatabase)  # noqa: S101  the two engines
    return PgGenerations(db)
