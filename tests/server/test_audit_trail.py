"""The audit trail cannot be rewritten unseen: a keyed chain over each row (the key outside the database)
and Ed25519-signed checkpoints in a file outside the database. Each way of tampering is detected; the
erasure of a personal field and a restore from backup are not mistaken for tampering."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from issuance_server.audit import store as audit_store
from issuance_server.audit.checkpoints import Checkpoint, read_checkpoints
from issuance_server.audit.trail import (
    GENESIS,
    SYSTEM,
    canonical,
    legacy_row_hash,
    row_mac,
)
from issuance_server.audit.verify import TrailReport, verify_tail, verify_trail
from issuance_server.storage.engine import Tx
from tests.server.conftest import Env
from wire.kiosk_api import API_PREFIX

FIELDS = ("at", "actor_kind", "actor_id", "terminal", "action", "subject_mac", "result", "details")


async def add_rows(env: Env, n: int, subject: str | None = "0000000101") -> None:
    for i in range(n):
        await env.core.audit.append(SYSTEM, "test_event", "ok", subject, n=i)


async def report(env: Env) -> TrailReport:
    return await env.core.guard.full_report()


async def checkpoint(env: Env) -> None:
    assert await env.core.guard.checkpoint()


async def restore_line(env: Env) -> None:
    """What ``konbini-ops restore`` appends once the backup's database is back."""
    head = await env.core.db.fetchone("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    assert head is not None
    env.core.guard.checkpoints.append(int(head["seq"]), str(head["hash"]), "restore")


async def last_seq(env: Env) -> int:
    row = await env.core.db.fetchone("SELECT max(seq) AS seq FROM audit_log")
    assert row is not None
    return int(row["seq"])


async def test_an_untouched_trail_verifies_through_the_ops_api(env: Env) -> None:
    await add_rows(env, 5)
    await checkpoint(env)
    assert not await env.core.guard.checkpoint()  # nothing new: no new checkpoint
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    body = await (await env.client.get("/ops/api/audit/verify", headers=ops)).json()
    # the genesis line, the checkpoint at start (the bootstrap's row) and this one
    assert body["intact"] and body["checkpoints"] == 3 and body["rows"] >= 5 and body["hold"] is None
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


async def test_a_tail_rewritten_as_rows_of_the_old_unkeyed_chain_is_detected(env: Env) -> None:
    """H1: rows marked ``chain = 1`` after keyed rows, hashed with plain SHA-256, need no key."""
    await add_rows(env, 5)
    await env.core.db.execute("UPDATE audit_log SET chain = 1 WHERE seq > ?", (await last_seq(env) - 3,))
    legacy = ("at", "actor_kind", "actor_id", "terminal", "action", "subject", "result", "details")
    rows = [dict(r) for r in await env.core.db.fetchall("SELECT * FROM audit_log ORDER BY seq")]
    prev = rows[-4]["hash"]
    for row in rows[-3:]:
        prev_hash, prev = prev, legacy_row_hash(prev, {f: row[f] for f in legacy})
        await env.core.db.execute(
            "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev_hash, prev, row["seq"])
        )
    result = await report(env)
    assert result.problem == "unkeyed_row" and result.seq == rows[-3]["seq"]


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


async def test_a_purge_erasing_personal_fields_keeps_the_trail_verifiable(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr("issuance_server.audit.trail.utc_now_iso", lambda: "2019-01-05T01:00:00.000Z")
        await add_rows(env, 3)
    seq = await last_seq(env) - 1
    await add_rows(env, 2)  # recent ones keep their subject

    def purge(tx: Tx) -> int:
        erased = audit_store.erase_subjects_before(tx, "2020-01-01T00:00:00.000Z")
        env.core.audit.record(tx, SYSTEM, "purge", "done", None, cutoff="2020-01-01T00:00:00.000Z")
        return erased

    assert await env.core.db.write(purge) >= 1
    result = await report(env)
    assert result.intact and result.erased >= 1, result
    row = await env.core.db.fetchone("SELECT subject, subject_mac FROM audit_log WHERE seq = ?", (seq,))
    assert row is not None
    assert row["subject"] is None and row["subject_mac"]


async def test_a_personal_field_erased_outside_a_purge_is_detected(env: Env) -> None:
    """L4: an erased subject must be older than the cut-off of a later recorded purge."""
    await add_rows(env, 3)
    seq = await last_seq(env) - 1
    await env.core.db.execute("UPDATE audit_log SET subject = NULL WHERE seq = ?", (seq,))
    result = await report(env)
    assert (result.problem, result.seq) == ("subject_erased", seq)
    # a purge whose cut-off is older than the row
    await env.core.audit.append(SYSTEM, "purge", "done", None, cutoff="2020-01-01T00:00:00.000Z")
    assert (await report(env)).problem == "subject_erased"


async def test_a_restore_from_backup_is_not_read_as_a_truncation(env: Env) -> None:
    await add_rows(env, 3)
    await checkpoint(env)
    backup_seq = await last_seq(env)
    await add_rows(env, 4)
    await checkpoint(env)
    await env.core.db.execute("DELETE FROM audit_log WHERE seq > ?", (backup_seq,))  # the restore
    assert (await report(env)).problem == "truncated"  # until the restore is recorded
    await restore_line(env)
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
    rows = await env.core.db.fetchall("SELECT * FROM audit_log ORDER BY seq")
    old_log = [Checkpoint(1, 3, prev, "2026-01-03T00:00:00Z", "checkpoint")]  # a log of the first format
    assert verify_trail(rows, env.core.secrets.audit_chain_key, old_log).intact
    genesis = [Checkpoint(1, 0, GENESIS, "2026-01-01T00:00:00Z", "genesis")]  # a trail begun keyed
    assert verify_trail(rows, env.core.secrets.audit_chain_key, genesis).problem == "unkeyed_row"
    assert canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


async def test_a_forged_tail_is_not_signed_and_holds_the_kiosks_until_ops_acknowledge(env: Env) -> None:
    """H1: the check before each checkpoint; the hold; the acknowledgement that ends it."""
    await add_rows(env, 4)
    await env.core.db.execute("UPDATE audit_log SET result = 'refused' WHERE seq = ?", (await last_seq(env),))
    lines_before = env.settings.audit_checkpoints_path.read_text().count("\n")
    assert not await env.core.guard.checkpoint()
    assert env.settings.audit_checkpoints_path.read_text().count("\n") == lines_before  # nothing signed
    refused = await env.kiosk.post(f"{API_PREFIX}/sessions")
    assert refused.status == 503 and (await refused.json())["error"]["code"] == "audit_trail_broken"
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    status = await (await env.client.get("/ops/api/status", headers=ops)).json()
    assert status["audit_hold"]["problem"] == "row_altered"
    short = await env.client.post("/ops/api/audit/acknowledge", json={"reason": "no"}, headers=ops)
    assert short.status == 400
    ack = await env.client.post(
        "/ops/api/audit/acknowledge",
        json={"reason": "row changed by hand; copy kept for the police"},
        headers=ops,
    )
    body = await ack.json()
    assert ack.status == 200 and body["hold"] is None and body["acknowledged"][0]["problem"] == "row_altered"
    assert (await env.kiosk.post(f"{API_PREFIX}/sessions")).status == 201
    result = await report(env)
    assert result.intact and [a["problem"] for a in result.acknowledged] == ["row_altered"]
    again = await env.client.post(
        "/ops/api/audit/acknowledge", json={"reason": "nothing left to see"}, headers=ops
    )
    assert again.status == 409
    await add_rows(env, 2)  # the trail goes on, checked from the acknowledged head
    assert await env.core.guard.checkpoint() and (await report(env)).intact


async def test_an_acknowledged_truncation_is_reported_and_the_trail_goes_on(env: Env) -> None:
    await add_rows(env, 5)
    await checkpoint(env)
    await env.core.db.execute("DELETE FROM audit_log WHERE seq > ?", (await last_seq(env) - 2,))
    assert not await env.core.guard.checkpoint() and env.core.guard.hold is not None
    assert [a["problem"] for a in await env.core.guard.acknowledge(SYSTEM, "rows lost, checked")] == [
        "truncated"
    ]
    assert env.core.guard.hold is None and (await report(env)).intact


def lines(env: Env) -> list[str]:
    return env.settings.audit_checkpoints_path.read_text().splitlines()


def write_lines(env: Env, kept: list[str]) -> None:
    env.settings.audit_checkpoints_path.write_text("".join(line + "\n" for line in kept))


async def three_checkpoints(env: Env) -> None:
    for _ in range(3):
        await add_rows(env, 2)
        await checkpoint(env)


async def test_a_checkpoint_line_deleted_from_the_middle_is_detected(env: Env) -> None:
    """M1: lines are chained; the one after a deleted line no longer follows the line before it."""
    await three_checkpoints(env)
    kept = lines(env)
    write_lines(env, kept[:2] + kept[3:])
    result = await report(env)
    assert (result.problem, result.line) == ("checkpoint_chain", 3)


async def test_an_old_restore_line_replayed_at_the_end_is_detected(env: Env) -> None:
    """M1: a copy of an old signed ``restore`` line appended at the end would hide every later row."""
    await add_rows(env, 2)
    await restore_line(env)
    await three_checkpoints(env)
    replayed = next(line for line in lines(env) if '"restore"' in line)
    write_lines(env, [*lines(env), replayed])
    assert (await report(env)).problem == "checkpoint_chain"


@pytest.mark.parametrize("how", ["deleted", "emptied"])
async def test_a_missing_checkpoint_file_beside_a_keyed_trail_is_a_failure(env: Env, how: str) -> None:
    """M1: zero checkpoints is not "0 signed checkpoints agree"."""
    await three_checkpoints(env)
    path = env.settings.audit_checkpoints_path
    path.unlink() if how == "deleted" else path.write_text("")
    assert (await report(env)).problem == "checkpoints_missing"
    assert not await env.core.guard.checkpoint() and env.core.guard.hold is not None


async def test_lines_of_the_first_format_are_accepted_only_before_the_chain(env: Env) -> None:
    """A log kept before chained lines continues with them; an unchained line after them is refused."""
    await add_rows(env, 2)
    head = await env.core.db.fetchone("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    assert head is not None
    key = env.core.secrets.audit_signing_key
    at = "2026-01-01T00:00:00.000Z"
    text = f"konbini-audit/1|checkpoint|{head['seq']}|{head['hash']}|{at}".encode()
    v1 = json.dumps({"event": "checkpoint", "seq": head["seq"], "head": head["hash"], "at": at,
                     "sig": base64.b64encode(key.sign(text)).decode()})  # fmt: skip
    write_lines(env, [v1])
    await add_rows(env, 1)
    await checkpoint(env)  # a chained line after the old one
    assert (await report(env)).intact
    write_lines(env, [*lines(env), v1])
    assert (await report(env)).problem == "checkpoint_chain"


async def tail_report(env: Env) -> TrailReport:
    points = read_checkpoints(
        env.settings.audit_checkpoints_path, env.core.secrets.audit_signing_key.public_key()
    )
    valid = [p for p in points if p.valid]
    rows = await env.core.db.fetchall("SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq", (valid[-1].seq,))
    return verify_tail(rows, env.core.secrets.audit_chain_key, points)


async def test_a_whole_trail_rewritten_unkeyed_with_its_checkpoints_deleted_is_detected(env: Env) -> None:
    """Review finding: every row marked unkeyed and re-hashed from GENESIS, the checkpoint file deleted."""
    await add_rows(env, 3)
    rows = [dict(r) for r in await env.core.db.fetchall("SELECT * FROM audit_log ORDER BY seq")]
    legacy = ("at", "actor_kind", "actor_id", "terminal", "action", "subject", "result", "details")
    prev = GENESIS
    for row in rows:
        prev_hash, prev = prev, legacy_row_hash(prev, {f: row[f] for f in legacy})
        await env.core.db.execute(
            "UPDATE audit_log SET chain = 1, prev_hash = ?, hash = ? WHERE seq = ?",
            (prev_hash, prev, row["seq"]),
        )
    env.settings.audit_checkpoints_path.unlink()
    assert (await report(env)).problem == "checkpoints_missing"


async def test_rows_changed_after_their_break_was_acknowledged_are_detected(env: Env) -> None:
    """Review finding: an acknowledgement excuses only the rows as ops saw them, and its head row is checked."""
    await add_rows(env, 5)
    await checkpoint(env)
    first = await last_seq(env) - 3
    await env.core.db.execute("UPDATE audit_log SET result = 'refused' WHERE seq = ?", (first,))
    assert await env.core.guard.acknowledge(SYSTEM, "seen: one row edited")
    assert (await report(env)).intact
    await env.core.db.execute("UPDATE audit_log SET actor_id = 'someone' WHERE seq = ?", (first + 1,))
    assert (await report(env)).problem == "acknowledged_range_altered"
    await env.core.db.execute("UPDATE audit_log SET actor_id = 'konbini-server' WHERE seq = ?", (first + 1,))
    assert (await report(env)).intact
    await env.core.db.execute("UPDATE audit_log SET result = 'x' WHERE action = 'audit_acknowledge'")
    assert (await report(env)).problem == "row_altered"


async def test_the_check_at_start_looks_at_the_checkpointed_row_itself(env: Env) -> None:
    """Review finding: the last checkpointed row edited, its hash left alone."""
    await add_rows(env, 3)
    await checkpoint(env)
    await env.core.db.execute("UPDATE audit_log SET result = 'refused' WHERE seq = ?", (await last_seq(env),))
    assert (await tail_report(env)).problem == "row_altered"


async def test_a_row_no_server_wrote_is_a_problem_not_a_crash(env: Env) -> None:
    await add_rows(env, 2)
    await env.core.db.execute("UPDATE audit_log SET chain = 7 WHERE seq = ?", (await last_seq(env),))
    assert (await report(env)).problem == "row_altered"
    assert not await env.core.guard.checkpoint() and env.core.guard.hold is not None
