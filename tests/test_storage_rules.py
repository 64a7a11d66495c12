"""Each table has one owning store module that alone holds its SQL (DESIGN section 3): SQL literals are
found in the server's source by their shape and must sit in a store (``<domain>/store.py``) or in the
engine (``issuance_server/storage/``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_PACKAGES = ("issuance_server", "registration", "recovery")
# A statement as our SQL writes it: upper-case keywords at the start of a string.
SQL = re.compile(
    r"\s*(SELECT\s.*\bFROM\b|SELECT\s+\d|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+[\w.]+\s+SET\s|DELETE\s+FROM\s"
    r"|REPLACE\s+INTO\s|CREATE\s+(TABLE|INDEX|UNIQUE|TEMP|TRIGGER|VIEW)\s|DROP\s+(TABLE|INDEX)\s"
    r"|ALTER\s+TABLE\s|WITH\s+\w+\s+AS\s*\(|PRAGMA\s|ATTACH\s|DETACH\s|BEGIN\b|COMMIT\b|ROLLBACK\b|VACUUM\b)",
    re.DOTALL,
)


def sql_literals(path: Path) -> list[tuple[int, str]]:
    """(line, start of the text) of each string constant or f-string in ``path`` shaped like SQL."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(str(v.value) if isinstance(v, ast.Constant) else "x" for v in node.values)
        else:
            continue
        if SQL.match(text):
            found.append((node.lineno, " ".join(text.split())[:60]))
    return found


def may_hold_sql(relative: str) -> bool:
    return relative.startswith("issuance_server/storage/") or relative.endswith("/store.py")


def server_modules() -> list[str]:
    return sorted(
        str(path.relative_to(ROOT)) for package in SERVER_PACKAGES for path in (ROOT / package).rglob("*.py")
    )


def test_sql_only_in_store_modules() -> None:
    outside = [
        f"{relative}:{line}: {text}"
        for relative in server_modules()
        if not may_hold_sql(relative)
        for line, text in sql_literals(ROOT / relative)
    ]
    assert not outside, (
        "SQL outside a store module (move it into the owning domain's store.py):\n" + "\n".join(outside)
    )


def test_the_detector_finds_sql_and_ignores_prose(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'A = "SELECT seq FROM audit_log WHERE seq > ?"\n'
        "B = f\"UPDATE {table} SET status = 'voided'\"\n"
        'C = "Select the card, then read its certificate from the chip."\n'
        'D = "INSERT OR IGNORE INTO t VALUES (1)"\n',
        encoding="utf-8",
    )
    assert [line for line, _ in sql_literals(sample)] == [1, 2, 4]
