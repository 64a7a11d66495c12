"""Issue 15: the snapshot in the rows encoding (compact, parsed in bulk; tax rows written by a second process
and merged) builds the same replica as the object encoding, and a malformed row fails the sync leaving no
file behind."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from issuance_server.replica.store import ReplicaBuildError, ReplicaWriter
from recovery import snapshot_sync
from recovery.snapshot_sync import SyncError, SyncProgress, load_snapshot
from registry_sim.generator import generate_city
from registry_sim.linkage_file import end_line, header_line
from registry_sim.store import StoreReader, build_store
from tests.recovery.test_linkage_version import serve
from wire.linkage import FIELDS_BY_TYPE, RECORD_TYPES, encode_row, row_record


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "registry.sqlite3"
    build_store(path, generate_city(300, 1, 2026), source="test")
    return path


def snapshot(store: Path, rows: bool, broken: str | None = None) -> bytes:
    with StoreReader(store).snapshot() as snap:
        body = b"".join(snap.lines(4096, rows=rows))  # small chunks: many boundaries between types
        counts = dict(snap.streamed)
        head = header_line(snap.seq, snap.epoch, snap.counts, rows)
    if broken:  # the last row of that type loses its last value
        lines = body.split(b"\n")
        at = max(i for i, line in enumerate(lines) if line.startswith(f'["{broken}"'.encode()))
        lines[at] = orjson.dumps(orjson.loads(lines[at])[:-1])
        body = b"\n".join(lines)
    return head + body + end_line(counts)


def table(path: Path, rtype: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {rtype} ORDER BY 1, 2").fetchall()


def sync(store: Path, path: Path, rows: bool, broken: str | None = None) -> Iterator[None]:
    for url in serve(snapshot(store, rows, broken)):
        writer = ReplicaWriter(path)
        try:
            load_snapshot(url, 5.0, writer, SyncProgress())
            writer.finish({"seq": "0"})
        except Exception:
            writer.discard()
            raise
    yield


def test_rows_build_the_same_replica_as_objects(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_sync, "BATCH", 100)  # many batches, so many frames to the second process
    list(sync(store, tmp_path / "rows.sqlite3", rows=True))
    list(sync(store, tmp_path / "objects.sqlite3", rows=False))
    for rtype in RECORD_TYPES:
        got = table(tmp_path / "rows.sqlite3", rtype)
        assert got and got == table(tmp_path / "objects.sqlite3", rtype)
    assert not list(tmp_path.glob("*.side*"))  # the child processes' files were merged and removed
    for name in ("rows.sqlite3", "objects.sqlite3"):  # the children's indexes came with their tables
        with sqlite3.connect(tmp_path / name) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            named = "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            indexes = {r[0] for r in conn.execute(named)}
            household = conn.execute("SELECT household_no FROM household LIMIT 1").fetchone()[0]
            members = "SELECT count(*) FROM resident INDEXED BY resident_household WHERE household_no = ?"
            assert conn.execute(members, (household,)).fetchone()[0] > 0
        assert indexes == {"resident_household", "resident_kana", "resident_birth", "seal_owner"}


@pytest.mark.parametrize("rtype", ["tax", "resident", "household"])  # each child, and each of a child's types
def test_a_row_missing_a_value_fails_the_sync_and_leaves_no_file(
    store: Path, tmp_path: Path, rtype: str
) -> None:
    with pytest.raises((SyncError, ReplicaBuildError), match=f"malformed {rtype} record"):
        list(sync(store, tmp_path / "broken.sqlite3", rows=True, broken=rtype))
    assert list(tmp_path.iterdir()) == []


def test_a_row_is_the_record_in_field_order() -> None:
    record = next(r for r in generate_city(5, 1, 2026) if r["t"] == "tax")
    row = orjson.loads(encode_row(record))
    assert row == ["tax", *(record[f] for f in FIELDS_BY_TYPE["tax"])]
    assert row_record(row) == record


def rows_of(store: Path, rtype: str) -> tuple[bytes, int]:
    with StoreReader(store).snapshot() as snap:
        lines = b"".join(snap.lines(rows=True)).split(b"\n")
    mine = [line for line in lines if line.startswith(f'["{rtype}"'.encode())]
    return b"\n".join(mine), len(mine)


def test_a_snapshot_without_one_childs_types_builds_their_tables_empty(store: Path, tmp_path: Path) -> None:
    writer = ReplicaWriter(tmp_path / "tax-only.sqlite3")
    writer.insert_rows("tax", *rows_of(store, "tax"))
    writer.finish({"seq": "0"})
    assert table(tmp_path / "tax-only.sqlite3", "tax")
    for rtype in ("household", "resident", "seal"):
        assert table(tmp_path / "tax-only.sqlite3", rtype) == []
    assert not list(tmp_path.glob("*.side*"))


def test_rows_after_the_end_of_the_rows_fail_the_build(store: Path, tmp_path: Path) -> None:
    writer = ReplicaWriter(tmp_path / "late.sqlite3")
    data, count = rows_of(store, "seal")
    writer.insert_rows("seal", data, count)
    side = writer._sides["seal"]
    side.end_rows(base=True)
    side.send("seal", data)
    with pytest.raises(ReplicaBuildError, match="rows came after the end of the rows"):
        side.finish()
    writer.discard()
    assert list(tmp_path.iterdir()) == []
