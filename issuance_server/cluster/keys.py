"""A cluster's keys: made once (``konbini-ops cluster-init``) and placed on every node; a node whose keys
differ from the cluster's refuses to start.

The cluster's fingerprint (a hash over the hashes of the shared key files: nothing of a key can be learnt
from it) is recorded by the first node to start on a database; every node compares its own with it at start.
A node's TLS server certificate stays its own (made from the shared city CA for the node's names). The
local ops token (``secrets/ops-token``, accepted from the node's own machine) is the cluster's too: the database
knows one ``local`` token; it is not in the fingerprint, so rotating it stops no node from starting."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Final

from issuance_server.cluster import store
from issuance_server.settings import Settings
from issuance_server.storage.engine import Tx
from wire.settings import SettingsError

SHARED_SECRETS: Final = (
    "pin-pepper", "audit-chain-key", "audit-ed25519.pem", "issuing-ed25519.pem", "city-issuing-p256.pem",
    "proxy-secret", "totp-key",
)  # fmt: skip
SHARED_TLS: Final = ("city-ca.crt", "city-ca.key", "kiosk-ca.crt", "kiosk-ca.key")
NODE_OWN: Final = ("tls/server.crt", "tls/server.key")


def fingerprint(secrets_dir: Path, tls_dir: Path) -> str:
    """The fingerprint of this node's shared keys (a missing file counts as its absence)."""
    outer = hashlib.sha256(b"konbini cluster keys v1\0")
    for folder, names in ((secrets_dir, SHARED_SECRETS), (tls_dir, SHARED_TLS)):
        for name in names:
            path = folder / name
            inner = hashlib.sha256(path.read_bytes()).digest() if path.exists() else b"missing"
            outer.update(name.encode() + b"\0" + inner)
    return outer.hexdigest()[:32]


def keys_problem(tx: Tx, mine: str) -> str | None:
    """Record ``mine`` as the cluster's fingerprint if none is yet; why this node may not start, if its keys
    are not the cluster's."""
    theirs = store.record_keys(tx, mine)
    if theirs == mine:
        return None
    return (
        f"this node's keys (fingerprint {mine[:12]}) are not the cluster's ({str(theirs)[:12]}): copy the"
        " secrets/, keys/ and tls/ folders that konbini-ops cluster-init made into this node's data folder"
    )


def strip_node_own(folder: Path) -> None:
    """Remove what each node makes for itself from a cluster-init folder (its server certificate), so that
    copying the folder to a node gives it only the shared keys."""
    for name in NODE_OWN:
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "audit", ignore_errors=True)


def check_node_keys(settings: Settings) -> None:
    """At a node's start on PostgreSQL: its shared keys (made now if missing, as at any first start) are the
    cluster's, or a :class:`SettingsError` saying what to do."""
    from issuance_server.certificates import pades
    from issuance_server.secrets_store import load_or_create_secrets
    from issuance_server.storage.engine import DatabaseUnavailable
    from issuance_server.storage.postgres import connect, in_write_transaction

    load_or_create_secrets(settings.data_dir)
    pades.create_signing_identity(
        settings.secrets_dir, settings.data_dir / "keys", settings.municipality_name
    )
    mine = fingerprint(settings.secrets_dir, settings.tls_dir)
    try:
        with connect(settings.database_url) as conn:
            problem = in_write_transaction(conn, lambda tx: keys_problem(tx, mine), None)
    except DatabaseUnavailable as exc:
        raise SettingsError(f"database_url: cannot connect: {exc}") from None
    if problem:
        raise SettingsError(problem)
