"""Store building, export, import (all or nothing) and the seed / import / export commands."""

from __future__ import annotations

import io
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from registry_sim.__main__ import default_fiscal_year, main
from registry_sim.generator import generate_city
from registry_sim.linkage_file import LinkageFileError, checked_records, write_linkage
from registry_sim.store import StoreReader, build_store
from wire.linkage import FORMAT


def export_bytes(db: Path) -> bytes:
    out = io.BytesIO()
    with StoreReader(db).snapshot() as snap:
        write_linkage(snap, out)
    return out.getvalue()


def data_lines(export: bytes) -> list[bytes]:
    """The export without its header line (which carries the time and seq)."""
    return export.splitlines()[1:]


def untimed(export: bytes) -> tuple[dict[str, Any], list[bytes]]:
    """The export as (its header without the second it was made at, its data lines): two exports of one
    store are equal whatever second each was made in."""
    header = orjson.loads(export.splitlines()[0])
    del header["generated_at"]
    return header, data_lines(export)


def small_file(tmp_path: Path, residents: int = 40) -> tuple[Path, list[bytes]]:
    lines = [orjson.dumps(r) for r in generate_city(residents, 5, 2026)]
    path = tmp_path / "city.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, lines


def test_export_has_header_records_and_end(seeded_db: Path) -> None:
    lines = export_bytes(seeded_db).splitlines()
    header, end = orjson.loads(lines[0]), orjson.loads(lines[-1])
    assert header["t"] == "header" and header["format"] == FORMAT and header["generated_at"].endswith("Z")
    assert end["t"] == "end"
    seq, counts = StoreReader(seeded_db).status()
    assert header["seq"] == seq and end["counts"] == counts
    assert sum(counts.values()) == len(lines) - 2
    types = [orjson.loads(line)["t"] for line in lines[1:-1]]
    assert types == sorted(types, key=["household", "resident", "seal", "tax"].index)


def test_export_then_import_gives_the_same_store(seeded_db: Path, tmp_path: Path) -> None:
    first = export_bytes(seeded_db)
    exported = tmp_path / "export.jsonl"
    exported.write_bytes(first)
    copy = tmp_path / "copy.sqlite3"
    with open(exported, "rb") as fh:
        build_store(copy, checked_records(fh), source="test import")
    assert data_lines(export_bytes(copy)) == data_lines(first)


def test_import_keeps_every_generated_record_unchanged(tmp_path: Path) -> None:
    path, lines = small_file(tmp_path)
    db = tmp_path / "r.sqlite3"
    assert main(["import", str(path), "--db", str(db)]) == 0
    assert sorted(data_lines(export_bytes(db))[:-1]) == sorted(lines)


def test_a_bad_line_is_reported_with_its_number_and_nothing_is_loaded(
    seeded_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.sqlite3"
    shutil.copy(seeded_db, db)
    before = export_bytes(db)
    path, lines = small_file(tmp_path)
    bad = orjson.loads(lines[2])
    del bad[next(k for k in bad if k != "t")]
    lines[2] = orjson.dumps(bad)
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["import", str(path), "--db", str(db), "--replace"]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3: " in err and "lacks field" in err and "nothing was imported" in err
    assert data_lines(export_bytes(db)) == data_lines(before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.jsonl", "r.sqlite3"]  # no temp file left


def test_import_over_a_city_asks_for_replace(
    seeded_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.sqlite3"
    shutil.copy(seeded_db, db)
    before = untimed(export_bytes(db))
    path, _ = small_file(tmp_path)
    assert main(["import", str(path), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "replaces all of it" in err and "--replace" in err and "resident" in err
    assert untimed(export_bytes(db)) == before
    assert main(["import", str(path), "--db", str(db), "--replace"]) == 0
    assert untimed(export_bytes(db)) != before


def test_a_failed_import_creates_no_database(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"not json\n")
    db = tmp_path / "new.sqlite3"
    assert main(["import", str(path), "--db", str(db)]) == 1
    assert not db.exists()


def check(lines: list[bytes]) -> list[dict[str, Any]]:
    return list(checked_records(lines))


def problems(lines: list[bytes]) -> list[tuple[int, str]]:
    with pytest.raises(LinkageFileError) as caught:
        check(lines)
    return caught.value.problems


def test_header_and_end_lines_are_accepted_and_skipped() -> None:
    records = [orjson.dumps(r) for r in generate_city(3, 1, 2026)]
    counts = {"household": 1, "resident": 3, "seal": 2, "tax": 8}
    header = orjson.dumps({"t": "header", "format": FORMAT, "seq": 9, "generated_at": "2026-01-01T00:00:00Z"})
    end = orjson.dumps({"t": "end", "counts": counts})
    assert len(check([header, *records, b"", end])) == len(records) == sum(counts.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(extra=1), "unknown field"),
        (lambda r: r.update(version="1"), "must be an integer"),
        (lambda r: r.update(name=5), "must be text"),
        (lambda r: r.update(atena_no=None), "field atena_no is null"),
        (lambda r: r.update(t="person"), "unknown record type"),
        (lambda r: r.update(household_no="9999999999"), "household_no refers to a household"),
        (lambda r: r.update(sex="male"), "sex must be one of M, F"),
        (lambda r: r.update(kind="Foreign"), "kind must be one of japanese, foreign"),
        (lambda r: r.update(status="alive"), "status must be one of resident, removed"),
        (lambda r: r.update(birth_date="1995/07/01"), "birth_date must be a date YYYY-MM-DD"),
        (lambda r: r.update(version=0), "version must be 1 or more"),
        (lambda r: r.update(katagaki=""), "katagaki is empty (an absent value is null)"),
        (lambda r: r.update(atena_no="000001"), "atena_no must be 10 digits"),
        (lambda r: r.update(kojin_bango="123456789012"), "is not a 個人番号"),
        (lambda r: r.update(support_measure=2), "support_measure must be 0 or 1"),
        (lambda r: r.update(address="鹿児島市どこか1番"), "differs from the address of household"),
    ],
)
def test_record_problems_name_the_line(change: Any, message: str) -> None:
    """Every rule of docs/linkage-format.md, each named with its line (a seal's status in the next test)."""
    records = [orjson.loads(orjson.dumps(r)) for r in generate_city(3, 1, 2026)]
    change(records[1])  # the demo householder
    found = problems([orjson.dumps(r) for r in records])
    assert found[0][0] == 2 and message in found[0][1], found


def test_duplicates_wrong_end_counts_and_misplaced_lines_are_problems() -> None:
    records = [orjson.dumps(r) for r in generate_city(3, 1, 2026)]
    assert problems([*records, records[1]]) == [(len(records) + 1, "duplicate resident (same key as line 2)")]
    end = orjson.dumps({"t": "end", "counts": {"household": 1, "resident": 99, "seal": 2, "tax": 8}})
    assert "end line counts" in problems([*records, end])[0][1]
    assert problems([*records, end, records[0]])[0] == (len(records) + 2, "line after the end line")
    header = orjson.dumps({"t": "header", "format": FORMAT})
    assert problems([records[0], header])[0] == (2, "header line is not the first line")
    assert "unsupported format" in problems([orjson.dumps({"t": "header", "format": "x/9"})])[0][1]


def test_a_konbini_linkage_1_file_is_refused_once_with_what_to_do() -> None:
    """A version 1 file (tax records without the certificates' items) is one clear problem on its header
    line, not one per tax record."""
    v1_tax = {"t": "tax", "owner_atena_no": "0000000001", "fiscal_year": 2025, "paid": 0, "unpaid": 0}
    lines = [orjson.dumps({"t": "header", "format": "konbini-linkage/1"}), orjson.dumps(v1_tax)]
    [(line, message)] = problems(lines)
    assert line == 1 and "konbini-linkage/1" in message and "konbini-linkage/2" in message
    assert "export it again" in message


def test_rebuilding_a_store_starts_a_new_epoch_at_seq_0(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite3"
    build_store(db, generate_city(3, 1, 2026), source="a")
    first = StoreReader(db).state()
    build_store(db, generate_city(3, 1, 2026), source="b")
    second = StoreReader(db).state()
    assert first[1] == second[1] == 0
    assert first[0] and second[0] and first[0] != second[0]


def test_an_error_while_building_leaves_the_old_store(seeded_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite3"
    shutil.copy(seeded_db, db)
    before = StoreReader(db).status()

    def failing() -> Any:
        yield from generate_city(50, 1, 2026)
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError):
        build_store(db, failing(), source="x")
    assert StoreReader(db).status() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.sqlite3"]


def test_seed_and_export_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "var" / "registry.sqlite3"
    assert main(["seed", "--residents", "60", "--seed", "3", "--fiscal-year", "2026", "--db", str(db)]) == 0
    assert "60 resident" in capsys.readouterr().err
    out = tmp_path / "out.jsonl"
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    lines = out.read_bytes().splitlines()
    assert orjson.loads(lines[-1])["counts"]["resident"] == 60
    expected = [orjson.dumps(r) for r in generate_city(60, 3, 2026)]
    assert sorted(lines[1:-1]) == sorted(expected)


def test_seed_refuses_fewer_than_three_residents(tmp_path: Path) -> None:
    assert main(["seed", "--residents", "2", "--seed", "1", "--db", str(tmp_path / "r.sqlite3")]) == 2


def test_default_fiscal_year_is_the_latest_assessed() -> None:
    assert default_fiscal_year(date(2026, 5, 31)) == 2025
    assert default_fiscal_year(date(2026, 6, 1)) == 2026


def test_the_documented_example_file_imports(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "linkage-format.md").read_text(encoding="utf-8")
    example = doc.split("```jsonl\n", 1)[1].split("```", 1)[0]
    lines = example.encode().splitlines()
    assert len(lines) == 3
    counts = build_store(tmp_path / "r.sqlite3", checked_records(lines), source="doc example")
    assert counts == {"household": 1, "resident": 1, "seal": 1, "tax": 0}


def test_a_seal_status_outside_the_format_is_refused() -> None:
    records = [orjson.loads(orjson.dumps(r)) for r in generate_city(3, 1, 2026)]
    line, seal = next((n, r) for n, r in enumerate(records, start=1) if r["t"] == "seal")
    seal["status"] = "Active"
    found = problems([orjson.dumps(r) for r in records])
    assert found[0][0] == line and "status must be one of active, abolished" in found[0][1]
