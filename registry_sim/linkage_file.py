"""Linkage files (JSON Lines, ``wire.linkage``): checking an import file line by line, writing an export.

An import is all-or-nothing: ``checked_records`` yields the records of a file and, if any line is wrong,
raises ``LinkageFileError`` listing every problem (up to ``MAX_PROBLEMS``) with its line number, after the
last line, so that ``store.build_store`` discards everything it was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, Final

import orjson

from registry_sim.store import Counts, Snapshot, canonical, empty_counts, record_key
from wire.linkage import (
    FIELDS_BY_TYPE,
    FORMAT,
    ROW_FIELDS,
    ROWS,
    LinkageError,
    check_record,
    format_problem,
    record_problem,
)

MAX_PROBLEMS: Final = 50

# Fields that point at another record: (record type, field) -> referenced record type.
_REFERENCES: Final = {
    ("household", "head_atena_no"): "resident",
    ("resident", "household_no"): "household",
    ("seal", "owner_atena_no"): "resident",
    ("tax", "owner_atena_no"): "resident",
}


class LinkageFileError(ValueError):
    """An import file with problems; ``problems`` is a list of (line number, message)."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"line {first[0]}: {first[1]}{more}")


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def header_line(seq: int, epoch: str, counts: Counts | None = None, rows: bool = False) -> bytes:
    """The first line; ``counts`` (the records to come, per type) lets a reader show how far it is; with
    ``rows`` it announces the rows encoding and each type's field order."""
    header: dict[str, Any] = {
        "t": "header",
        "format": FORMAT,
        "epoch": epoch,
        "seq": seq,
        "generated_at": utc_now_iso(),
    }
    if counts is not None:
        header["counts"] = counts
    if rows:
        header.update(encoding=ROWS, fields=ROW_FIELDS)
    return orjson.dumps(header) + b"\n"


def end_line(counts: Counts) -> bytes:
    return orjson.dumps({"t": "end", "counts": counts}) + b"\n"


def checked_records(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Yield the canonical records of a linkage file's lines; raise ``LinkageFileError`` at the end if any is bad.

    Checks: valid JSON object, known type with every field (``wire.linkage.check_record``), each value by
    the format's rules (``wire.linkage.record_problem``), no duplicate key, a living resident at the
    household's address, references to households and residents present in the file,
    an optional header first (with this format) and an optional ``end`` line last whose counts match.
    """
    problems: list[tuple[int, str]] = []
    seen: dict[str, dict[str, int]] = {t: {} for t in FIELDS_BY_TYPE}
    # (type, key) referenced before it appeared -> (line, field) of the first reference
    pending: dict[tuple[str, str], tuple[int, str]] = {}
    counts = empty_counts()
    household_address: dict[str, str] = {}
    lives_at: list[tuple[int, str, str]] = []  # (line, household, address) of residents living there
    end_counts: dict[str, Any] | None = None
    end_at = 0
    first_line = True
    for line_no, raw in enumerate(lines, start=1):
        if len(problems) >= MAX_PROBLEMS:
            break
        if not raw.strip():
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problems.append((line_no, f"not valid JSON ({exc.args[0].split(':')[0]})"))
            continue
        if not isinstance(record, dict):
            problems.append((line_no, "not a JSON object"))
            continue
        is_first, first_line = first_line, False
        if end_at:
            problems.append((line_no, "line after the end line"))
            continue
        rtype = record.get("t")
        if rtype == "header":
            if not is_first:
                problems.append((line_no, "header line is not the first line"))
            elif format_problem(record.get("format", FORMAT)):
                problems.append((line_no, str(format_problem(record.get("format")))))
                break  # every record after it would be wrong in the same way
            continue
        if rtype == "end":
            end_at = line_no
            end_counts = record.get("counts") if isinstance(record.get("counts"), dict) else {}
            continue
        try:
            rtype = check_record(record)
        except LinkageError as exc:
            problems.append((line_no, str(exc)))
            continue
        problem = record_problem(record, rtype)
        if problem:
            problems.append((line_no, problem))
            continue
        key = record_key(record)
        earlier = seen[rtype].get(key)
        if earlier is not None:
            problems.append((line_no, f"duplicate {rtype} (same key as line {earlier})"))
            continue
        seen[rtype][key] = line_no
        pending.pop((rtype, key), None)
        for (from_type, name), to_type in _REFERENCES.items():
            if from_type == rtype and record[name] not in seen[to_type]:
                pending.setdefault((to_type, record[name]), (line_no, f"{rtype}.{name}"))
        counts[rtype] += 1
        if rtype == "household":
            household_address[str(record["household_no"])] = str(record["address"])
        elif rtype == "resident" and record["status"] == "resident":
            lives_at.append((line_no, str(record["household_no"]), str(record["address"])))
        if not problems:
            yield canonical(record)
    for at, household_no, address in lives_at:  # a resident lives at the household's address
        if household_address.get(household_no, address) != address:
            problems.append((at, f"resident.address differs from the address of household {household_no}"))
    if not problems:  # a rejected record would show up again as a missing reference: report it once
        for (to_type, _), (at, field) in sorted(pending.items(), key=lambda item: item[1]):
            problems.append((at, f"{field} refers to a {to_type} that is not in the file"))
    if end_counts is not None and not problems:
        wrong = {t: n for t, n in counts.items() if end_counts.get(t, 0) != n}
        if wrong:
            problems.append((end_at, f"end line counts {end_counts} differ from the records read {counts}"))
    if problems:
        problems.sort()
        raise LinkageFileError(problems[:MAX_PROBLEMS])


def write_linkage(snapshot: Snapshot, out: IO[bytes]) -> Counts:
    """Write header, every record and the end line; return the counts."""
    out.write(header_line(snapshot.seq, snapshot.epoch, snapshot.counts))
    for chunk in snapshot.lines(chunk_bytes=1 << 20):
        out.write(chunk)
    out.write(end_line(snapshot.streamed))
    return snapshot.streamed
