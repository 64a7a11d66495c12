"""Bad input to the command-line tools, against the real processes (the shared stack): each gets a clear
error and an exit status, never a traceback, and nothing is done half (no kiosk enrolled whose credentials
could not be written, no certificate issued that could not be saved)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from konbini_demo.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def a_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "a-file"
    path.write_text("not a folder")
    return path


NEVER_REGISTERED = "0000000002"  # on the shared stack, tests register the demo resident (0000000001)
CLERK_CASES = [
    (["search", "--atena-no", "abc"], "bad_field: atena_no must be 1-15 digits"),
    (["search"], "give name, atena_no or birth_date"),
    (["search", "--birth-date", "1990-13-45"], "birth_date must be a date, YYYY-MM-DD"),
    (["unlock", "--atena-no", "x"], "bad_field"),
    (["suspend", "--atena-no", NEVER_REGISTERED], "nothing_to_change"),
    (["issue", "--atena-no", "0000000001", "--kind", "bogus"], "invalid choice: 'bogus'"),
]

OPS_CASES = [
    (["mode", "recovery"], "say why (reason)"),
    (["mode", "recovery", "--reason", ""], "say why (reason)"),
    (["kiosk-add", "bad id!"], "kiosk_id: 1-40 ASCII letters, digits or '-'"),
    (["kiosk-remove", "nothere"], "kiosk_unknown"),
    (["staff-unlock", "nobody"], "staff_unknown"),
    (["restore", "nothing-here"], "stop it before restoring"),
    (["mode", "bogus"], "invalid choice: 'bogus'"),
]


def no_traceback(out: str) -> None:
    assert "Traceback" not in out, out


def count(stack: Stack, sql: str) -> int:
    """A count read from the server's database (read-only, beside the running server)."""
    conn = sqlite3.connect(f"file:{stack.server_dir / 'konbini.sqlite3'}?mode=ro", uri=True)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize(("args", "said"), CLERK_CASES, ids=[" ".join(a) for a, _ in CLERK_CASES])
def test_clerk_bad_input_gets_a_clear_error(stack: Stack, args: list[str], said: str) -> None:
    result = stack.clerk(*args, check=False)
    no_traceback(result.stdout + result.stderr)
    assert result.returncode in (1, 2) and said in result.stderr, result.stderr


@pytest.mark.parametrize(("args", "said"), OPS_CASES, ids=[" ".join(a) for a, _ in OPS_CASES])
def test_ops_bad_input_gets_a_clear_error(stack: Stack, args: list[str], said: str) -> None:
    result = stack.ops(*args, check=False)
    no_traceback(result.stdout + result.stderr)
    assert result.returncode in (1, 2) and said in result.stderr, result.stderr


def test_a_kiosk_is_not_enrolled_when_its_credentials_cannot_be_written(stack: Stack, a_file: Path) -> None:
    result = stack.ops("kiosk-add", "kiosk-nowhere", "--out", str(a_file / "kiosk.json"), check=False)
    no_traceback(result.stdout + result.stderr)
    assert result.returncode == 1 and f"cannot write in {a_file}" in result.stderr, result.stderr
    assert count(stack, "SELECT count(*) FROM kiosks WHERE kiosk_id = 'kiosk-nowhere'") == 0


def test_nothing_is_issued_at_the_counter_when_the_pdf_cannot_be_saved(stack: Stack, a_file: Path) -> None:
    counter = "SELECT count(*) FROM issuances WHERE channel = 'counter'"
    before = count(stack, counter)  # the shared stack: other modules' counter issuances
    stack.ops("mode", "recovery", "--reason", "bad-input test")
    try:
        result = stack.clerk(
            "issue",
            "--atena-no",
            "0000000001",
            "--kind",
            "juminhyo",
            "--out",
            str(a_file / "pdfs"),
            check=False,
        )
    finally:
        stack.ops("mode", "normal")
    no_traceback(result.stdout + result.stderr)
    assert result.returncode == 1 and f"cannot write in {a_file / 'pdfs'}" in result.stderr, result.stderr
    assert count(stack, counter) == before
