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
from wire.linkage import FIELDS_BY_TYPE, FORMAT, KEYS_BY_TYPE, LinkageError, check_record

MAX_PROBLEMS: Final = 50

# Fields that point at another record: (record type, field) -> referenced record type.
_REFERENCES: Final = {
    ("household", "head_atena_no"): "resident",
    ("resident", "household_no"): "household",
    ("seal", "owner_atena_no"): "resident",
    ("tax", "owner_atena_no"): "resident",
}
_PY_TYPES: Final = {"TEXT": str, "INTEGER": int}


class LinkageFileError(ValueError):
    """An import file with problems; ``problems`` is a list of (line number, message)."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"line {first[0]}: {first[1]}{more}")


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def header_line(seq: int, epoch: str) -> bytes:
    header = {"t": "header", "format": FORMAT, "epoch": epoch, "seq": seq, "generated_at": utc_now_iso()}
    return orjson.dumps(header) + b"\n"


def end_line(counts: Counts) -> bytes:
    return orjson.dumps({"t": "end", "counts": counts}) + b"\n"


def field_problem(record: dict[str, Any], rtype: str) -> str | None:
    """Why a record (of a known type, with every field) is wrong, or None: unknown fields, value types."""
    fields = FIELDS_BY_TYPE[rtype]
    unknown = [k for k in record if k != "t" and k not in fields]
    if unknown:
        return f"{rtype} record has unknown field(s): {', '.join(unknown)}"
    for name, (sql_type, _) in fields.items():
        value = record[name]
        if value is None:
            if name in KEYS_BY_TYPE[rtype]:
                return f"{rtype} record: key field {name} is null"
            continue
        expected = _PY_TYPES[sql_type]
        if not isinstance(value, expected) or isinstance(value, bool):
            return f"{rtype} record: field {name} must be {'text' if expected is str else 'an integer'}"
    return None


def checked_records(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Yield the canonical records of a linkage file's lines; raise ``LinkageFileError`` at the end if any is bad.

    Checks: valid JSON object, known type with every field (``wire.linkage.check_record``), no unknown
    field, text/integer types, no duplicate key, references to households and residents present in the file,
    an optional header first (with this format) and an optional ``end`` line last whose counts match.
    """
    problems: list[tuple[int, str]] = []
    seen: dict[str, dict[str, int]] = {t: {} for t in FIELDS_BY_TYPE}
    # (type, key) referenced before it appeared -> (line, field) of the first reference
    pending: dict[tuple[str, str], tuple[int, str]] = {}
    counts = empty_counts()
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
            elif record.get("format", FORMAT) != FORMAT:
                problems.append((line_no, f"unsupported format {record.get('format')!r} (expected {FORMAT})"))
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
        problem = field_problem(record, rtype)
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
        if not problems:
            yield canonical(record)
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
    out.write(header_line(snapshot.seq, snapshot.epoch))
    for chunk in snapshot.lines(chunk_bytes=1 << 20):
        out.write(chunk)
    out.write(end_line(snapshot.streamed))
    return snapshot.streamed
