"""A backup restored across the real processes, on each engine (SQLite's backup API; pg_dump and pg_restore):
what was issued after it is gone, and the audit trail (with its signed checkpoints) still verifies, the
restore recorded."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from konbini_demo.processes import run
from konbini_demo.stack import STAFF_ID, Stack
from tests.e2e.stacks import demo_kiosk, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Stack]:
    settings = {"KONBINI_DATABASE_URL": database_url} if database_url else None
    with running_stack(tmp_path_factory.mktemp("backup"), residents=200, server_settings=settings) as s:
        yield s


SYSTEM_BACKUP = ("system", "konbini-server")  # the daily backup's actor


def backup_actors(stack: Stack) -> list[tuple[str, str]]:
    """Who the audit trail says took backups, read from the server's database."""
    query = "SELECT actor_kind, actor_id FROM audit_log WHERE action = 'backup'"
    if stack.database_url:
        with psycopg.connect(stack.database_url) as pg:
            return [(r[0], r[1]) for r in pg.execute(query).fetchall()]
    conn = sqlite3.connect(f"file:{stack.server_dir / 'konbini.sqlite3'}?mode=ro", uri=True)
    try:
        return [(r[0], r[1]) for r in conn.execute(query).fetchall()]
    finally:
        conn.close()


def test_a_restored_backup_verifies_and_records_the_restore(stack: Stack, tmp_path: Path) -> None:
    kiosk = demo_kiosk(stack)
    assert "serial" in kiosk.session()
    made = run(  # as a staff member with the ops role, acting as themselves (not the shared ops token)
        ["recovery.cli", "--data-dir", str(stack.server_dir), "--server", stack.server_url, "--staff-id", STAFF_ID,
         "backup"],
        env=stack.clerk_env(),  # the demo clerk's kept session (password and TOTP code typed once)
    )  # fmt: skip
    assert "proven" in made.stdout, made.stdout + made.stderr
    name = made.stdout.split()[1]
    # Audited under the staff member's name. The server's own daily backup (backup_at, 03:00 Japan time) may
    # fall inside a run: it is the system's, not this command's.
    assert [a for a in backup_actors(stack) if a != SYSTEM_BACKUP] == [("staff", STAFF_ID)]
    after = kiosk.session()  # issued after the backup: the restore takes it back
    assert "serial" in after
    refused = stack.ops("restore", name, check=False)
    assert refused.returncode == 1 and "stop it before restoring" in refused.stderr
    stack.services.pop("server").stop()
    restored = stack.ops("restore", name)
    assert "audit trail intact" in restored.stdout, restored.stdout + restored.stderr
    stack.start_server()
    verified = stack.ops("audit-verify")
    assert "audit trail intact" in verified.stdout, verified.stdout + verified.stderr

    gone = tmp_path / "after-backup.pdf"
    gone.write_bytes(after["pdf"])
    checked = stack.verify(gone)  # its signature is good, its serial is no longer known
    assert checked.returncode == 1 and "unknown_serial" in checked.stdout, checked.stdout + checked.stderr
    again = kiosk.session()  # numbered in the new series the restore started: never the lost serial again
    assert again["serial"] != after["serial"], (again, after)
    assert again["serial"].split("-")[1] != after["serial"].split("-")[1]
