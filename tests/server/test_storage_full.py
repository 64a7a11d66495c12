"""A full disk under the server's SQLite file (real SQLite refusing to grow the file: ``max_page_count``, the
limit it meets as SQLITE_FULL, the same error as a full disk): kiosks get ``503 storage_full``, the trip that
met it changed nothing, the writer is not left inside a failed transaction, and service resumes when there
is room again, the file intact. (A full tmpfs under a server process: tests/e2e/test_storage_full_e2e.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from issuance_server.audit.verify import verify_rows
from tests.server.conftest import Env
from wire.kiosk_api import API_PREFIX


async def open_session(env: Env) -> Any:
    return await env.kiosk.post(f"{API_PREFIX}/sessions", headers=env.kiosk_headers)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_full_disk_gives_storage_full_changes_nothing_and_service_resumes(env: Env) -> None:
    sessions = await env.core.db.fetchone("SELECT count(*) AS n FROM kiosk_sessions")
    assert sessions is not None
    await env.core.db.write(lambda tx: tx.execute(f"PRAGMA max_page_count = {tx.value('PRAGMA page_count')}"))
    answers = [await open_session(env) for _ in range(60)]  # until a write needs a page the file cannot add
    full = [r for r in answers if r.status == 503]
    assert full, "no write met the full disk"
    body = await full[0].json()
    assert body["error"]["code"] == "storage_full" and full[0].headers["Retry-After"]
    opened = sum(r.status == 201 for r in answers)
    after = await env.core.db.fetchone("SELECT count(*) AS n FROM kiosk_sessions")
    assert after is not None and after["n"] == sessions["n"] + opened  # a refused opening left no row
    await env.core.db.write(lambda tx: tx.execute("PRAGMA max_page_count = 1073741823"))  # room again
    assert (await open_session(env)).status == 201
    check = await env.core.db.fetchone("PRAGMA integrity_check")
    assert check is not None and check["integrity_check"] == "ok"
    rows = await env.core.db.fetchall("SELECT * FROM audit_log ORDER BY seq")
    settings = env.core.settings
    report = verify_rows(rows, settings.data_dir / "secrets", settings.audit_checkpoints_path)
    assert report.intact, report  # no half-written row
