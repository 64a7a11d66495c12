"""The audit trail cannot be rewritten unseen: a keyed chain over each row (the key outside the database)
and Ed25519-signed checkpoints in a file outside the database. Each way of tampering is detected; the
erasure of a personal field and a restore from backup are not mistaken for tampering."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from issuance_server.audit import (
    GENESIS,
    SYSTEM,
    _canonical,
    erase_subject,
    legacy_row_hash,
    read_checkpoints,
    row_mac,
    verify_trail,
    write_checkpoint,
)
from tests.server.conftest import Env

FIELDS = ("at", "actor_kind", "actor_id", "terminal", "action", "subject_mac", "result", "details")


async def add_rows(env: Env, n: int, subject: str | None = "0000000101") -> None:
    for i in range(n):
        await env.core.audit.append(SYSTEM, "test_event", "ok", subject, n=i)


async def report(env: Env) -> Any:
    rows = await env.core.db.fetchall("SELECT * FROM audit_log ORDER BY seq")
    points = read_checkpoints(
        env.settings.audit_checkpoints_path, env.core.secrets.audit_signing_key.public_key()
    )
    return verify_trail(rows, env.core.secrets.audit_chain_key, points)


async def checkpoint(env: Env, event: str = "checkpoint") -> None:
    assert await write_checkpoint(env.core.db, env.core.checkpoints, event)


async def last_seq(env: Env) -> int:
    row = await env.core.db.fetchone("SELECT max(seq) FROM audit_log")
    assert row is not None
    return int(row[0])


async def test_an_untouched_trail_verifies_through_the_ops_api(env: Env) -> None:
    await add_rows(env, 5)
    await checkpoint(env)
    assert not await write_checkpoint(env.core.db, env.core.checkpoints)  # nothing new: no new checkpoint
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    body = await (await env.client.get("/ops/api/audit/verify", headers=ops)).json()
    assert body["intact"] and body["checkpoints"] == 1 and body["rows"] >= 5
    assert env.settings.audit_checkpoints_path.stat().st_mode & 0o777 == 0o600


async def test_an_edited_row_is_detected(env: Env) -> None:
    await add_rows(env, 5)
    seq = await last_seq(env) - 2
    await env.core.db.execute("UPDATE audit_log SET result = 'refused' WHERE seq = ?", (seq,))
    result = await report(env)
    assert result.problem == "row_altered" and result.seq == seq


async def test_a_changed_subject_is_detected(env: Env) -> None:
    await add_rows(env, 3)
    seq = await last_seq(env)
    await env.core.db.execute("UPDATE audit_log SET subject = '0000000999' WHERE seq = ?", (seq,))
    assert (await report(env)).problem == "subject_altered"


async def test_a_deleted_row_is_detected(env: Env) -> None:
    await add_rows(env, 5)
    seq = await last_seq(env) - 2
    await env.core.db.execute("DELETE FROM audit_log WHERE seq = ?", (seq,))
    result = await report(env)
    assert result.problem == "row_deleted" and result.seq == seq


async def test_a_truncated_tail_is_detected(env: Env) -> None:
    await add_rows(env, 5)
    await checkpoint(env)
    seq = await last_seq(env)
    await env.core.db.execute("DELETE FROM audit_log WHERE seq > ?", (seq - 5,))
    result = await report(env)
    assert result.problem == "truncated" and result.seq == seq - 4


async def rewrite_tail(env: Env, chain: Callable[[str, dict[str, Any]], str]) -> None:
    """The attack: change the third-last row, then recompute every later link with ``chain``."""
    rows = [dict(r) for r in await env.core.db.fetchall("SELECT * FROM audit_log ORDER BY seq")]
    rows[-3]["result"] = "refused"
    prev = rows[-4]["hash"]
    for row in rows[-3:]:
        row["prev_hash"], row["hash"] = prev, chain(prev, {f: row[f] for f in FIELDS})
        prev = row["hash"]
        await env.core.db.execute(
            "UPDATE audit_log SET result = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (row["result"], row["prev_hash"], row["hash"], row["seq"]),
        )


async def test_a_chain_recomputed_with_the_public_hash_is_detected(env: Env) -> None:
    """The old attack: recompute with plain SHA-256 (no key)."""
    await add_rows(env, 5)
    await rewrite_tail(env, legacy_row_hash)
    assert (await report(env)).problem == "row_altered"


async def test_a_chain_recomputed_even_with_the_key_disagrees_with_a_checkpoint(env: Env) -> None:
    await add_rows(env, 5)
    await checkpoint(env)
    key = env.core.secrets.audit_chain_key
    await rewrite_tail(env, lambda prev, fields: row_mac(key, prev, fields))
    assert (await report(env)).problem == "checkpoint_mismatch"


async def test_a_forged_checkpoint_is_detected(env: Env) -> None:
    await add_rows(env, 2)
    await checkpoint(env)
    path = env.settings.audit_checkpoints_path
    line = json.loads(path.read_text().splitlines()[-1])
    line["seq"] += 1
    with path.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    assert (await report(env)).problem == "checkpoint_forged"


async def test_erasing_a_personal_field_keeps_the_trail_verifiable(env: Env) -> None:
    await add_rows(env, 3)
    await checkpoint(env)
    seq = await last_seq(env) - 1
    async with env.core.db.transaction() as tx:
        await erase_subject(tx, seq)
    result = await report(env)
    assert result.intact and result.erased == 1
    row = await env.core.db.fetchone("SELECT subject, subject_mac FROM audit_log WHERE seq = ?", (seq,))
    assert row is not None
    assert row["subject"] is None and row["subject_mac"]


async def test_a_restore_from_backup_is_not_read_as_a_truncation(env: Env) -> None:
    await add_rows(env, 3)
    await checkpoint(env)
    backup_seq = await last_seq(env)
    await add_rows(env, 4)
    await checkpoint(env)
    await env.core.db.execute("DELETE FROM audit_log WHERE seq > ?", (backup_seq,))  # the restore
    assert (await report(env)).problem == "truncated"  # until the restore is recorded
    await checkpoint(env, "restore")
    await add_rows(env, 2)  # and life goes on
    await checkpoint(env)
    assert (await report(env)).intact


async def test_rows_before_the_keyed_chain_still_verify(env: Env) -> None:
    """A log begun before the keyed chain (chain = 1 rows, plain SHA-256) continues with keyed rows."""
    await env.core.db.execute("DELETE FROM audit_log")
    prev = GENESIS
    for i in range(1, 4):
        fields = {"at": f"2026-01-0{i}T00:00:00Z", "actor_kind": "system", "actor_id": "old", "terminal": "t",
                  "action": "old_event", "subject": None, "result": "ok", "details": "{}"}  # fmt: skip
        prev_hash, prev = prev, legacy_row_hash(prev, fields)
        await env.core.db.execute(
            "INSERT INTO audit_log (seq, at, actor_kind, actor_id, terminal, action, subject, result, details,"
            " prev_hash, hash, chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (i, *fields.values(), prev_hash, prev),
        )
    await add_rows(env, 2)
    assert (await report(env)).intact
    assert _canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'
