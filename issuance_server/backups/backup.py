"""Backups of the server's own records (the seed's daily backup, line 743), each proven by a restore check.

A backup is a folder ``<data_dir>/backups/<UTC stamp>/`` holding a consistent copy of the database (on
SQLite an online copy made with its backup API, never a file copy of a live WAL database; on PostgreSQL a
``pg_dump``), the secrets, keys and TLS files needed to use it, the audit checkpoints, and
``manifest.json``: the proof, from restoring it into a temporary folder (SQLite) or a scratch database
(PostgreSQL), that the copy is sound (``PRAGMA integrity_check``; ``pg_restore`` without error), that its
audit trail verifies with its key and checkpoints, and its row counts. The replica is not in it: ``konbini-ops sync`` rebuilds it from the registry.
:func:`restore` (server stopped) brings one back and records the restore in the audit trail.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key

from issuance_server.audit import store as audit_store
from issuance_server.audit.checkpoints import CheckpointLog, read_checkpoints
from issuance_server.audit.trail import SYSTEM, Actor, append_sync
from issuance_server.audit.verify import TrailReport, verify_files, verify_rows, verify_trail
from issuance_server.issuing import serials
from issuance_server.settings import Settings
from issuance_server.storage import postgres_files
from issuance_server.storage.engine import DatabaseUnavailable, Tx
from issuance_server.storage.engines import migrate, read_now, write_now
from issuance_server.storage.sqlite_files import check_file, online_copy
from wire.clock import JST

if TYPE_CHECKING:
    from issuance_server.core import ServerCore

log = logging.getLogger("konbini.backup")

DB_NAME = "konbini.sqlite3"
DUMP_NAME = "konbini.pgdump"  # a PostgreSQL database's backup (pg_dump's custom format)
CHECKPOINTS = Path("audit") / "checkpoints.log"
FOLDERS = ("secrets", "keys", "tls")  # what the database needs to be used (keys 0600)
COUNTED = ("issuances", "registrations", "staff", "kiosks", "audit_log", "kiosk_payments")


class BackupError(Exception):
    """A backup that cannot be made or proven, or a restore that cannot run; the message says why."""


# What a backup or restore can fail with, each saying why in its message.
BACKUP_FAILURES = (BackupError, OSError, sqlite3.Error, postgres_files.DumpError, DatabaseUnavailable)


@dataclass(frozen=True)
class Backup:
    folder: Path
    manifest: dict[str, Any]


def backups_dir(settings: Settings) -> Path:
    return settings.data_dir / "backups"


def take_backup(settings: Settings, keep: int) -> Backup:
    """Make, prove and keep a backup; older ones beyond ``keep`` are removed. Runs in a thread."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = backups_dir(settings) / stamp
    folder.mkdir(parents=True)
    try:
        checkpoints = settings.data_dir / CHECKPOINTS
        if checkpoints.exists():  # before the database: every checkpoint copied names rows the copy holds
            (folder / "audit").mkdir()
            shutil.copy2(checkpoints, folder / CHECKPOINTS)
        for name in FOLDERS:
            if (settings.data_dir / name).is_dir():
                shutil.copytree(settings.data_dir / name, folder / name)
        if settings.database_url:  # a consistent snapshot while the server writes on
            postgres_files.dump(settings.database_url, folder / DUMP_NAME)
        else:
            online_copy(settings.db_path, folder / DB_NAME)
        manifest = {"taken_at": stamp, "engine": settings.engine, **prove(folder, settings)}
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if not manifest["proven"]:
        raise BackupError(f"backup {stamp} failed its restore check: {manifest}")
    for old in list_backups(settings)[keep:]:
        shutil.rmtree(old.folder, ignore_errors=True)
    return Backup(folder, manifest)


def prove(folder: Path, settings: Settings) -> dict[str, Any]:
    """Restore ``folder`` into a temporary folder (a scratch database beside the server's, for a
    PostgreSQL backup) and check it: integrity, audit trail, row counts."""
    if (folder / DUMP_NAME).exists():
        if not settings.database_url:
            raise BackupError(
                f"{folder.name} is a PostgreSQL backup: database_url names no PostgreSQL server"
            )
        with postgres_files.scratch_database(settings.database_url) as url:
            try:
                postgres_files.restore_into(url, folder / DUMP_NAME, clean=False)
                integrity = "ok"
            except postgres_files.DumpError as exc:
                integrity = str(exc)
            counts = postgres_files.counts(url, COUNTED) if integrity == "ok" else {}
            rows = postgres_files.read_database(url, audit_store.rows) if integrity == "ok" else []
        trail = verify_rows(rows, folder / "secrets", folder / CHECKPOINTS).as_json()
    else:
        with tempfile.TemporaryDirectory(prefix="konbini-restore-check-") as tmp:
            copy = Path(tmp) / DB_NAME
            shutil.copy2(folder / DB_NAME, copy)
            integrity, counts = check_file(copy, COUNTED)
            trail = verify_files(copy, folder / "secrets", folder / CHECKPOINTS).as_json()
    return {
        "integrity": integrity,
        "audit": trail,
        "counts": counts,
        "proven": integrity == "ok" and bool(trail["intact"]),
    }


def list_backups(settings: Settings) -> list[Backup]:
    """Backups with a manifest, newest first."""
    found = []
    for folder in sorted(backups_dir(settings).glob("*/"), reverse=True):
        manifest = folder / "manifest.json"
        if manifest.exists():
            found.append(Backup(folder, json.loads(manifest.read_text())))
    return found


def restore(settings: Settings, name: str, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Bring backup ``name`` back (the server must be stopped): its database replaces the current one,
    the restore is signed into the checkpoints (so the shorter trail is not read as truncated) and
    recorded in the audit trail, which is then verified."""
    folder = backups_dir(settings) / name
    if not (folder / "manifest.json").exists():
        raise BackupError(f"no backup {name} in {backups_dir(settings)} (konbini-ops backups lists them)")
    checked = prove(folder, settings)
    if not checked["proven"]:
        raise BackupError(f"backup {name} does not pass its restore check: {checked}")
    if (folder / DUMP_NAME).exists():
        postgres_files.restore_into(settings.database_url, folder / DUMP_NAME, clean=True)
    else:
        if settings.database_url:
            raise BackupError(f"{name} is a SQLite backup: restore it with database_url empty")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{settings.db_path}{suffix}").unlink(missing_ok=True)
        shutil.copy2(folder / DB_NAME, settings.db_path)
        _fsync(settings.db_path)  # durable before the restore line that names its head
    migrate(settings)  # a backup of an older schema is brought up to this server's
    chain_key = (settings.secrets_dir / "audit-chain-key").read_bytes()
    signing = load_pem_private_key((settings.secrets_dir / "audit-ed25519.pem").read_bytes(), password=None)
    log = CheckpointLog(settings.audit_checkpoints_path, signing)  # type: ignore[arg-type]
    head = read_now(settings, audit_store.head)
    if head is not None:
        log.append(int(head["seq"]), str(head["hash"]), event="restore")

    def record(tx: Tx) -> str:
        series = serials.start_series(tx, "restore")
        append_sync(tx, chain_key, actor, "backup_restored", "ok", None, backup=name, serial_series=series)
        return series

    series = write_now(settings, record)
    rows = read_now(settings, audit_store.rows)
    points = read_checkpoints(settings.audit_checkpoints_path, signing.public_key())  # type: ignore[arg-type]
    return {
        "restored": name,
        "serial_series": series,
        "counts": checked["counts"],
        "audit": verify_trail(rows, chain_key, points).as_json(),
    }


def verify_stored(settings: Settings) -> TrailReport:
    """The audit trail of a stopped server, read from its database on either engine."""
    return verify_rows(
        read_now(settings, audit_store.rows), settings.secrets_dir, settings.audit_checkpoints_path
    )


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


async def backup_now(core: ServerCore, actor: Actor) -> Backup:
    """A backup while the server runs (ops, or the daily schedule), audited."""
    try:
        made = await asyncio.to_thread(take_backup, core.settings, core.settings.backups_kept)
    except BACKUP_FAILURES as exc:
        await core.audit.append(actor, "backup", "failed", None, error=str(exc)[:200])
        raise
    await core.audit.append(
        actor, "backup", "ok", None, backup=made.folder.name, counts=made.manifest["counts"]
    )
    return made


def seconds_until(at: str, now: datetime) -> float:
    """Seconds from ``now`` to the next ``HH:MM`` Japan time."""
    hours, minutes = (int(x) for x in at.split(":"))
    local = now.astimezone(JST)
    nxt = local.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    if nxt <= local:
        nxt += timedelta(days=1)
    return (nxt - local).total_seconds()


async def backup_loop(core: ServerCore) -> None:
    """The daily backup at ``backup_at``; a failure is logged and audited, and tried again the next day."""
    while True:
        await asyncio.sleep(seconds_until(core.settings.backup_at, datetime.now(UTC)))
        if not core.holds_lease():
            log.info("daily backup: made by the registry lease holder, not this node")
            continue
        try:
            made = await backup_now(core, SYSTEM)
            log.info("daily backup %s proven (%s)", made.folder.name, made.manifest["counts"])
        except BACKUP_FAILURES as exc:
            log.error("daily backup failed: %s", exc)
