"""Each table has one owning store module that alone holds its SQL (DESIGN section 3): SQL literals are
found in the server's source by their shape and must sit in a store (``<domain>/store.py``) or in the
engine (``issuance_server/storage/``); each store declares its tables (``TABLES``), every table of the
schema has exactly one owner, and a store's SQL names no other domain's table."""

from __future__ import annotations

import ast
import importlib
import re
import sqlite3
from contextlib import closing
from pathlib import Path

from issuance_server.storage.migrate import prepare_database
from tests.source_trees import parse_module

ROOT = Path(__file__).resolve().parents[1]
SERVER_PACKAGES = ("issuance_server", "registration", "recovery")
# A statement as our SQL writes it: upper-case keywords at the start of a string.
SQL = re.compile(
    r"\s*(SELECT\s.*\bFROM\b|SELECT\s+\d|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+[\w.]+\s+SET\s|DELETE\s+FROM\s"
    r"|REPLACE\s+INTO\s|CREATE\s+(TABLE|INDEX|UNIQUE|TEMP|TRIGGER|VIEW)\s|DROP\s+(TABLE|INDEX)\s"
    r"|ALTER\s+TABLE\s|WITH\s+\w+\s+AS\s*\(|PRAGMA\s|ATTACH\s|DETACH\s|BEGIN\b|COMMIT\b|ROLLBACK\b|VACUUM\b)",
    re.DOTALL,
)


def sql_literals(path: Path, whole: bool = False) -> list[tuple[int, str]]:
    """(line, the start of the text, or with ``whole`` all of it) of each string constant or f-string in
    ``path`` shaped like SQL (an f-string's fields read as ``x`` to find SQL, and shown as ``{}``)."""
    found = []
    for node in ast.walk(parse_module(path)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = shown = node.value
        elif isinstance(node, ast.JoinedStr):
            parts = [
                (str(v.value), str(v.value)) if isinstance(v, ast.Constant) else ("x", "{}")
                for v in node.values
            ]
            text, shown = "".join(p[0] for p in parts), "".join(p[1] for p in parts)
        else:
            continue
        if SQL.match(text):
            found.append((node.lineno, shown if whole else " ".join(text.split())[:60]))
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


# A table named by a statement: after FROM, INTO, JOIN or TABLE, or as ``UPDATE <table> SET``.
TABLE_NAMED = re.compile(r"\b(?:FROM|INTO|JOIN|TABLE)\s+([a-z_][\w.]*)|\bUPDATE\s+([a-z_][\w.]*)\s+SET\b")


def tables_named(path: Path) -> set[str]:
    """The tables the SQL of ``path`` names (``main.`` dropped; the replica's as ``replica.<table>``)."""
    names = set()
    for _, text in sql_literals(path, whole=True):
        for found in TABLE_NAMED.finditer(text):
            name = found.group(1) or found.group(2)
            names.add(name.removeprefix("main."))
    return names


def store_tables() -> dict[str, tuple[str, ...]]:
    """Each domain store's declared tables (its ``TABLES``)."""
    owned = {}
    for path in sorted((ROOT / "issuance_server").glob("*/store.py")):
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        owned[str(path.relative_to(ROOT))] = tuple(module.TABLES)
    return owned


def test_each_table_has_one_owning_store(tmp_path: Path) -> None:
    prepare_database(tmp_path / "server.sqlite3")
    with closing(sqlite3.connect(tmp_path / "server.sqlite3")) as conn:
        schema = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    schema -= {"schema_migrations", "sqlite_sequence"}  # the engine's own
    owners: dict[str, list[str]] = {}
    for store, tables in store_tables().items():
        for table in tables:
            owners.setdefault(table, []).append(store)
    assert {t: s for t, s in owners.items() if len(s) > 1} == {}, "a table with two owners"
    assert sorted(schema - set(owners)) == [], "tables no store owns (declare them in its TABLES)"
    assert sorted(set(owners) - schema) == [], "a store declares a table the migrations do not make"


def test_a_store_names_only_its_own_tables() -> None:
    """No store names a table another store declares; only the replica's store names the replica's
    tables (schema ``replica``, and the generation files it builds). A name made at run time (an f-string
    field) is the store's own by construction and is not checked."""
    owned = store_tables()
    owner = {table: store for store, tables in owned.items() for table in tables}
    replica_store = "issuance_server/replica/store.py"
    strays = []
    for store in owned:
        for name in sorted(tables_named(ROOT / store)):
            if name.endswith("."):
                continue  # replica.{}: a table of the replica by its record type
            theirs = owner.get(name, replica_store) if store == replica_store else owner.get(name)
            if theirs != store:
                strays.append(
                    f"{store} names {name} ({'owned by ' + theirs if theirs else 'no store owns it'})"
                )
    assert not strays, "SQL on another domain's table (call that domain's store instead):\n" + "\n".join(
        strays
    )
