"""The audit trail against tampering and power cuts, on a real server process and its files: the attacker
edits a stopped server's database or checkpoint file, ``konbini-ops audit-verify`` (reading the files) says
so, the restarted server holds the kiosks until ops acknowledge; a power cut loses rows, never raises a
false alarm.

The power cut is modelled by ``powercut/durable_copy.c`` (LD_PRELOAD into the server): each fsync copies
the file to a shadow folder, and after SIGKILL each database file and the checkpoint file is put back as it
was at its last fsync (a file never fsynced is deleted). That is what a disk guarantees after losing
power; SIGKILL alone (or with the page cache dropped) keeps every write the process made, so it cannot
show rows lost after a checkpoint had signed them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from issuance_server.audit.trail import legacy_fields, legacy_row_hash
from konbini_demo.processes import Service
from konbini_demo.stack import Stack
from tests.e2e.stacks import server_only_stack
from wire.http_json import HttpError
from wire.kiosk_client import KioskClient, KioskCredentials

pytestmark = pytest.mark.e2e

SHIM_SOURCE = Path(__file__).parent / "powercut" / "durable_copy.c"
DB = "konbini.sqlite3"
CHECKPOINTS = Path("audit") / "checkpoints.log"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One server, no registry (the trail needs none), one enrolled kiosk; each test leaves it running."""
    with server_only_stack(tmp_path_factory.mktemp("audit")) as stack:
        yield stack


def start_server(stack: Stack, **env: str) -> Service:
    svc = Service("server", ["issuance_server"], stack.logs, env={**stack.server_env(), **env})
    stack.services["server"] = svc
    svc.wait_log("konbini-server listening on")
    return svc


def kiosk_opens(stack: Stack) -> str:
    """What the kiosk gets when it opens a session: ``ok`` or the error code."""

    async def go() -> str:
        async with KioskClient(KioskCredentials.load(stack.kiosk_credentials)) as api:
            try:
                await api.end_session((await api.open_session())["session_id"])
                return "ok"
            except HttpError as exc:
                return exc.code

    return asyncio.run(go())


def audit_rows(stack: Stack, n: int) -> None:
    """Rows a running server writes: ops tokens added (each one row)."""
    for _ in range(n):
        stack.ops("token-add", f"t{time.monotonic_ns()}")


def tamper(stack: Stack, sql: str, *params: object) -> None:
    conn = sqlite3.connect(stack.server_dir / DB, isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


def rewrite_tail_unkeyed(stack: Stack, rows: int) -> int:
    """H1's attack: the last ``rows`` rows rewritten as rows of the old unkeyed chain (no key needed)."""
    conn = sqlite3.connect(stack.server_dir / DB, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        tail = conn.execute("SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?", (rows + 1,)).fetchall()[::-1]
        prev = tail[0]["hash"]
        for row in tail[1:]:
            fields = {name: row[name] for name in legacy_fields()}
            fields["result"] = "refused"
            prev_hash, prev = prev, legacy_row_hash(prev, fields)
            conn.execute(
                "UPDATE audit_log SET result = 'refused', chain = 1, prev_hash = ?, hash = ? WHERE seq = ?",
                (prev_hash, prev, row["seq"]),
            )
        return int(tail[1]["seq"])
    finally:
        conn.close()


def replay_an_old_line(stack: Stack, rows: int) -> int:
    """M1: a copy of an old signed line appended at the end of the checkpoint file."""
    path = stack.server_dir / CHECKPOINTS
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[0]]) + "\n")
    return -1


def delete_the_checkpoints(stack: Stack, rows: int) -> int:
    (stack.server_dir / CHECKPOINTS).unlink()
    return -1


@pytest.mark.parametrize("attack", [rewrite_tail_unkeyed, replay_an_old_line, delete_the_checkpoints])
def test_a_tampered_stopped_server_is_caught_by_audit_verify_and_holds_kiosks_until_acknowledged(
    stack: Stack, attack: object
) -> None:
    assert kiosk_opens(stack) == "ok"
    audit_rows(stack, 3)  # after the last checkpoint (every 60 s): what a crash leaves unsigned
    stack.services.pop("server").kill()
    assert callable(attack)
    attack(stack, 2)

    verified = stack.ops("audit-verify", check=False)
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert "checking its files" in verified.stdout and "audit trail BROKEN" in verified.stderr

    stack.start_server()
    assert kiosk_opens(stack) == "audit_trail_broken"
    hold = stack.ops_status()["audit_hold"]
    assert hold is not None and hold["problem"], hold
    public = stack.server_client().call("GET", "/healthz")
    assert public["status"] == "degraded" and "audit" not in json.dumps(public)  # why: only to ops
    acknowledged = stack.ops("audit-acknowledge", "--reason", "tampering seen in an e2e test; files kept")
    assert "kiosks are served again" in acknowledged.stdout, acknowledged.stdout + acknowledged.stderr
    assert kiosk_opens(stack) == "ok"
    after = stack.ops("audit-verify")
    assert "audit trail intact" in after.stdout and "acknowledged by ops" in after.stdout, after.stdout


def shim(tmp: Path) -> Path:
    built = tmp / "durable_copy.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(built), str(SHIM_SOURCE), "-ldl"], check=True)
    return built


MODELLED = (DB, f"{DB}-wal", f"{DB}-shm", str(CHECKPOINTS))


def disk_at_start(data_dir: Path, shadow: Path) -> None:
    """What is on disk before the server starts (flushed with sync): the shadow's first state."""
    os.sync()
    for rel in MODELLED:
        if (data_dir / rel).exists():
            (shadow / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(data_dir / rel, shadow / rel)


def cut_power(data_dir: Path, shadow: Path) -> None:
    """Every database file and the checkpoint file as at its last fsync (or as at the start); the rest of
    the folder (secrets, keys, written once at first start) is taken as durable."""
    for rel in MODELLED:
        live, kept = data_dir / rel, shadow / rel
        if kept.exists():
            shutil.copy2(kept, live)
        else:
            live.unlink(missing_ok=True)


def checkpointed_seq(data_dir: Path) -> int:
    lines = (data_dir / CHECKPOINTS).read_text().splitlines()
    return int(json.loads(lines[-1])["seq"])


def test_a_power_cut_after_a_checkpoint_loses_rows_but_raises_no_false_alarm(
    stack: Stack, tmp_path: Path
) -> None:
    data_dir, shadow = stack.server_dir.resolve(), tmp_path / "durable"
    stack.services.pop("server").stop()
    disk_at_start(data_dir, shadow)
    server = start_server(
        stack,
        LD_PRELOAD=str(shim(tmp_path)),
        POWERCUT_DIR=str(data_dir),
        POWERCUT_SHADOW=str(shadow),
        KONBINI_AUDIT_CHECKPOINT_S="0.2",
    )
    audit_rows(stack, 3)
    head = last_seq(data_dir)
    deadline = time.monotonic() + 30
    while checkpointed_seq(data_dir) < head:  # signed by the server's own schedule
        assert time.monotonic() < deadline, "no checkpoint of the new rows within 30 s"
        time.sleep(0.05)
    audit_rows(stack, 2)  # committed, not yet fsynced by SQLite (synchronous=NORMAL)
    server.kill()
    cut_power(data_dir, shadow)

    verified = stack.ops("audit-verify", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    start_server(stack)
    assert kiosk_opens(stack) == "ok"
    assert stack.ops_status()["audit_hold"] is None


def test_rows_another_process_writes_while_the_server_checkpoints_are_kept(stack: Stack) -> None:
    """Making the head durable must not disturb SQLite's locks: a descriptor of the database opened and
    closed by the server (to fsync it) dropped its POSIX locks, and a command writing the same database
    (here ``konbini-clerk bootstrap``) then reset the WAL under the server: each lost the other's rows."""
    stack.services.pop("server").stop()
    start_server(stack, KONBINI_AUDIT_CHECKPOINT_S="0.2")
    data_dir = stack.server_dir
    before = last_seq(data_dir)
    audit_rows(stack, 2)
    stack.second_admin()  # another process writes a staff row and its audit row (then the server its TOTP's)
    written = last_seq(data_dir)
    deadline = time.monotonic() + 30
    while checkpointed_seq(data_dir) < written:
        assert time.monotonic() < deadline, "no checkpoint of the bootstrap's row within 30 s"
        time.sleep(0.05)
    audit_rows(stack, 2)
    stack.services.pop("server").stop()
    conn = sqlite3.connect(f"file:{data_dir / DB}?mode=ro", uri=True)
    try:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM audit_log ORDER BY seq")]
        actions = [
            r[0] for r in conn.execute("SELECT action FROM audit_log WHERE seq > ? ORDER BY seq", (before,))
        ]
    finally:
        conn.close()
    assert seqs == list(range(1, len(seqs) + 1))
    assert (
        actions
        == ["ops_token_add"] * 2 + ["staff_bootstrap", "totp_enrol", "totp_enrol"] + ["ops_token_add"] * 2
    )
    assert "audit trail intact" in stack.ops("audit-verify").stdout
    stack.start_server()


def last_seq(data_dir: Path) -> int:
    conn = sqlite3.connect(f"file:{data_dir / DB}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT max(seq) FROM audit_log").fetchone()[0])
    finally:
        conn.close()
