"""``konbini-clerk bootstrap`` on the server machine makes the first account, and a second administrator
while only one exists (the desk's four-eyes rule needs two and never makes the second); nothing else."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from issuance_server.settings import load_settings
from issuance_server.staff.bootstrap import BootstrapError, bootstrap_staff
from tests.server.conftest import STAFF_PASSWORD


def test_bootstrap_makes_the_first_account_and_only_a_second_administrator(tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=tmp_path / "var", argon2_memory_kib=1024, argon2_time_cost=1)
    bootstrap_staff(settings, "first", "最初", STAFF_PASSWORD, ["admin", "ops"])
    with pytest.raises(BootstrapError, match="second administrator"):
        bootstrap_staff(settings, "clerk", "窓口", STAFF_PASSWORD, ["counter"])  # not an administrator
    bootstrap_staff(settings, "second", "二人目", STAFF_PASSWORD, ["admin"])
    with pytest.raises(BootstrapError, match="second administrator"):
        bootstrap_staff(settings, "third", "三人目", STAFF_PASSWORD, ["admin"])  # two exist: the desk's job
    conn = sqlite3.connect(settings.db_path)
    try:
        made = conn.execute("SELECT staff_id, created_by FROM staff ORDER BY staff_id").fetchall()
        audited = conn.execute("SELECT details FROM audit_log WHERE action = 'staff_bootstrap'").fetchall()
    finally:
        conn.close()
    assert made == [("first", "bootstrap"), ("second", "bootstrap")]
    assert [json.loads(d[0])["second_admin"] for d in audited] == [False, True]


def test_the_servers_own_names_are_not_staff_ids(tmp_path: Path) -> None:
    """Review finding: a staff member named ``server`` would make tokens that act as the server itself."""
    settings = load_settings(env={}, data_dir=tmp_path / "var", argon2_memory_kib=1024, argon2_time_cost=1)
    with pytest.raises(BootstrapError, match="reserved"):
        bootstrap_staff(settings, "server", "x", STAFF_PASSWORD, ["admin"])
