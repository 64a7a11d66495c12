"""Create staff accounts directly in the database, on the server machine (physical access, audited): the
first account, and a second administrator while only one exists (the desk's four-eyes rule needs two, and
never makes the second from the web)."""

from __future__ import annotations

from issuance_server.audit import store as audit_store
from issuance_server.audit.checkpoints import CheckpointLog
from issuance_server.audit.trail import Actor, append_sync
from issuance_server.secret_hashing import STAFF_PASSWORD, SecretHasher
from issuance_server.secrets_store import load_or_create_secrets
from issuance_server.settings import Settings
from issuance_server.staff import store
from issuance_server.staff.admin import check_password_rule, check_roles
from issuance_server.staff.auth import check_staff_id
from issuance_server.storage.engine import Tx
from issuance_server.storage.engines import write_now
from wire.clock import utc_now_iso


class BootstrapError(Exception):
    pass


def bootstrap_staff(settings: Settings, staff_id: str, name: str, password: str, roles: list[str]) -> None:
    try:
        check_staff_id(staff_id)
        check_password_rule(password)
        roles = check_roles(roles)
    except ValueError as exc:
        raise BootstrapError(str(exc)) from None
    secrets = load_or_create_secrets(settings.data_dir)
    hasher = SecretHasher(settings, secrets.pin_pepper, workers=1)
    try:
        pw_hash = hasher.hash_sync(STAFF_PASSWORD, password)
    finally:
        hasher.close()
    now, key = utc_now_iso(), secrets.audit_chain_key

    def make(tx: Tx) -> None:
        staff = store.count(tx)
        second_admin = bool(staff) and store.active_admins(tx) <= 1 and "admin" in roles
        if staff and not second_admin:
            raise BootstrapError(
                "staff accounts exist already: this command makes only the first account, or a second"
                " administrator (roles including admin) while only one exists; other accounts are asked"
                " for at the desk and approved by a second administrator"
            )
        if store.exists(tx, staff_id):
            raise BootstrapError(f"staff account {staff_id} exists already")
        store.insert_bootstrapped(tx, staff_id, name, ",".join(roles), pw_hash, now)
        append_sync(
            tx, key, Actor("staff", staff_id, "bootstrap"), "staff_bootstrap", "ok", roles=roles,
            second_admin=second_admin,
        )  # fmt: skip

    empty = write_now(settings, audit_store.is_empty)  # migrated first (SQLite), or checked
    CheckpointLog(settings.audit_checkpoints_path, secrets.audit_signing_key).begin(trail_is_empty=empty)
    write_now(settings, make)
