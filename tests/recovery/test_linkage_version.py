"""Issue 12: after konbini-linkage/2, a konbini-linkage/1 snapshot is refused with what to do, and a replica
generation built from /1 is not used (a full sync builds a /2 one)."""

from __future__ import annotations

import http.server
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from issuance_server.replica.store import Replica, ReplicaWriter
from issuance_server.storage.database import Database
from issuance_server.storage.migrate import prepare_database
from recovery.snapshot_sync import SyncError, SyncProgress, load_snapshot
from registry_sim.generator import generate_city
from wire.linkage import FORMAT, RECORD_TYPES


def serve(body: bytes) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def stream(fmt: str) -> bytes:
    records = list(generate_city(3, 1, 2026))
    counts = {t: sum(r["t"] == t for r in records) for t in RECORD_TYPES}
    if fmt != FORMAT:  # a version 1 tax record: paid/unpaid, none of the new items
        records = [r for r in records if r["t"] != "tax"] + [
            {"t": "tax", "owner_atena_no": "0000000001", "fiscal_year": 2026, "paid": 0, "unpaid": 0}
        ]
    lines = [{"t": "header", "format": fmt, "seq": 1}, *records, {"t": "end", "counts": counts}]
    return b"".join(orjson.dumps(r) + b"\n" for r in lines)


class Sink:
    def __init__(self) -> None:
        self.counts = dict.fromkeys(RECORD_TYPES, 0)

    def insert(self, rtype: str, rows: Sequence[Sequence[Any]]) -> None:
        self.counts[rtype] += len(rows)

    def insert_rows(self, rtype: str, data: bytes, count: int) -> None:
        self.counts[rtype] += count


@pytest.fixture
def v1_registry() -> Iterator[str]:
    yield from serve(stream("konbini-linkage/1"))


@pytest.fixture
def v2_registry() -> Iterator[str]:
    yield from serve(stream(FORMAT))


def test_a_version_1_snapshot_is_refused_naming_the_format_and_what_to_do(v1_registry: str) -> None:
    with pytest.raises(SyncError) as caught:
        load_snapshot(v1_registry, 5.0, Sink(), SyncProgress())
    message = str(caught.value)
    assert "konbini-linkage/1" in message and "konbini-linkage/2" in message and "export it again" in message


def test_a_version_2_snapshot_loads(v2_registry: str) -> None:
    sink = Sink()
    header = load_snapshot(v2_registry, 5.0, sink, SyncProgress())
    assert header["format"] == FORMAT and sink.counts["tax"] == 8


async def test_a_replica_generation_of_schema_1_is_not_attached(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    prepare_database(data_dir / "konbini.sqlite3")
    db = await Database.open(data_dir / "konbini.sqlite3")
    try:
        replica = Replica(db, data_dir)
        path = data_dir / "replica" / replica.new_generation("old")
        writer = ReplicaWriter(path)
        writer.finish({"seq": "1", "format": "konbini-linkage/1"})
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        await db.execute("UPDATE sync_state SET replica_file = ? WHERE id = 1", (path.name,))
        await replica.attach_current()
        assert not replica.ready
        row = await db.fetchone("SELECT last_error FROM sync_state WHERE id = 1")
        assert (
            row is not None
            and "schema version 1" in row["last_error"]
            and "konbini-ops sync" in row["last_error"]
        )
        with sqlite3.connect(path) as conn:  # a generation of this version is used
            conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        await replica.attach_current()
        assert replica.ready
    finally:
        await db.close()
