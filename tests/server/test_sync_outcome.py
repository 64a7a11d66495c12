"""A full sync's outcome once its generation is switched in: what fails after that point does not take the
new replica away."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from issuance_server.replica.generations import unfenced
from recovery.snapshot_sync import SnapshotSync
from tests.recovery.test_linkage_version import serve, stream
from tests.server.conftest import Env
from wire.linkage import FORMAT


async def test_a_failure_after_the_switch_keeps_the_new_replica(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    append = env.core.audit.append

    async def audit_fails_on_success(
        actor: Any, action: str, result: str, *args: Any, **details: Any
    ) -> None:
        if action == "sync_full" and result == "ok":
            raise OSError("disk full")
        await append(actor, action, result, *args, **details)

    monkeypatch.setattr(env.core.audit, "append", audit_fails_on_success)
    for url in serve(stream(FORMAT)):
        monkeypatch.setattr(env.core, "settings", dataclasses.replace(env.core.settings, registry_url=url))
        progress = await SnapshotSync(env.core, unfenced).run()
    assert progress.state == "failed" and "disk full" in str(progress.error)
    assert env.core.replica.attached is not None
    assert (await env.core.replica.meta())["format"] == FORMAT  # the new generation is the one in use
    row = await env.core.db.fetchone("SELECT count(*) AS n FROM replica.resident")
    assert row is not None and row["n"] > 0
