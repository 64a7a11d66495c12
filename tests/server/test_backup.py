"""Backups through the ops API while the server runs: made with SQLite's backup API or pg_dump, proven by a
restore check, and only the newest ``backups_kept`` kept."""

from __future__ import annotations

import sqlite3
import subprocess

from tests.server.conftest import Env


async def test_a_backup_is_proven_and_old_ones_are_pruned(env: Env) -> None:
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    resp = await env.client.post("/ops/api/backups", headers=ops)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["proven"] and made["integrity"] == "ok" and made["audit"]["intact"]
    assert made["counts"]["registrations"] == 1 and made["counts"]["staff"] == 1
    folder = env.settings.data_dir / "backups" / made["backup"]
    copy = "konbini.sqlite3" if env.core.db.kind == "sqlite" else "konbini.pgdump"
    assert made["engine"] == env.core.db.kind
    for needed in (copy, "manifest.json", "secrets/audit-chain-key", "keys", "tls/city-ca.crt"):
        assert (folder / needed).exists(), needed
    if env.core.db.kind == "sqlite":
        conn = sqlite3.connect(folder / copy)
        assert conn.execute("SELECT count(*) FROM registrations").fetchone()[0] == 1
        conn.close()
    else:  # the dump holds the own tables, not the replica (konbini-ops sync rebuilds it)
        listing = subprocess.run(["pg_restore", "--list", str(folder / copy)], capture_output=True, text=True)
        assert "TABLE public registrations" in listing.stdout and "replica_" not in listing.stdout
    for _ in range(env.settings.backups_kept):
        assert (await env.client.post("/ops/api/backups", headers=ops)).status == 201
    listed = (await (await env.client.get("/ops/api/backups", headers=ops)).json())["backups"]
    assert len(listed) == env.settings.backups_kept and made["backup"] not in [b["backup"] for b in listed]
    audit = await env.core.db.fetchall("SELECT result FROM audit_log WHERE action = 'backup'")
    assert [r["result"] for r in audit] == ["ok"] * (env.settings.backups_kept + 1)
