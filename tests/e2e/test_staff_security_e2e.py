"""Staff security and records across the real processes, through the command-line tools: an administrator
asks for a staff member, a second administrator approves it, the new one enrols TOTP from the printed
key, a replayed code is refused, the month's review comes out as a PDF with its figures, and a purge is
carried out only on the approval of an administrator independent of its requester, the audit trail
intact afterwards."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from konbini_demo.authenticator import Authenticator
from konbini_demo.processes import run
from konbini_demo.stack import STAFF_ID, Stack
from tests.e2e.stacks import demo_kiosk, running_stack
from wire.clock import jst_now

pytestmark = pytest.mark.e2e
NEW_PASSWORD = "second-admin-password-01"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("staff"), residents=100, server_settings={"KONBINI_RETENTION_DAYS": "1"}
    ) as s:
        yield s


def as_new_admin(stack: Stack, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **stack.clerk_env(), "KONBINI_STAFF_ID": "admin-b", "KONBINI_STAFF_PASSWORD": NEW_PASSWORD,
        "KONBINI_STAFF_SESSION": str(stack.root / "admin-b.session"),
        **({"KONBINI_TOTP_CODE": code} if code else {}),
    }  # fmt: skip
    return run(["registration.cli", *args], env=env, check=False)


def test_a_new_administrator_enrols_and_a_replayed_code_is_refused(stack: Stack) -> None:
    made = run(
        ["registration.cli", "staff", "add", "admin-b", "--roles", "admin,auditor", "--name", "管理者B"],
        env=stack.clerk_env(),
    )
    assert "another administrator approves it" in made.stdout
    own = run(["registration.cli", "staff", "approve", "admin-b"], env=stack.clerk_env(), check=False)
    assert own.returncode == 1 and "approver_is_requester" in own.stderr, own.stderr
    approved = run(
        ["registration.cli", "staff", "approve", "admin-b"],
        env={**stack.second_admin_env(), "KONBINI_NEW_STAFF_PASSWORD": NEW_PASSWORD},
    )
    assert "auditor,admin in force" in approved.stdout, approved.stdout
    before = as_new_admin(stack, "login", code="123456")
    assert before.returncode == 1 and "has no second factor yet" in before.stderr, before.stderr
    enrolled = as_new_admin(stack, "totp-enrol")
    assert "otpauth://totp/" in enrolled.stdout and "█" in enrolled.stdout  # the QR, drawn in the terminal
    device = Authenticator.from_enrolment(enrolled.stdout)
    confirmed = as_new_admin(stack, "totp-confirm", code=device.code())
    assert confirmed.returncode == 0 and confirmed.stdout.count("-") >= 10, confirmed.stderr
    code = device.code()
    assert as_new_admin(stack, "login", code=code).returncode == 0
    replay = as_new_admin(stack, "login", code=code)
    assert replay.returncode == 1 and "login_failed" in replay.stderr
    listed = run(["registration.cli", "staff", "list"], env=stack.clerk_env())
    assert any(line.startswith("admin-b\tauditor,admin\ttotp") for line in listed.stdout.splitlines())


def test_the_months_review_and_a_purge_approved_by_a_second_administrator(
    stack: Stack, tmp_path: Path
) -> None:
    kiosk = demo_kiosk(stack)
    serial = kiosk.session()["serial"]
    month = f"{serial[:4]}-{serial[4:6]}"  # its serial starts with the day it was issued, in Japan time
    pdf = tmp_path / "review.pdf"
    report = stack.ops(
        "--staff-id", STAFF_ID, "audit-report", "--month", month, "--pdf", str(pdf), check=False
    )
    assert report.returncode == 0, report.stderr
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert f"操作ログ月次点検報告 {month}" in text and "kiosk 1" in text

    db = stack.server_dir / "konbini.sqlite3"
    three_days_ago = (jst_now() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with sqlite3.connect(db, timeout=10) as conn:  # as if issued three days ago (retention here: 1 day)
        conn.execute("UPDATE issuances SET issued_at = ? WHERE serial = ?", (three_days_ago, serial))
    before = f"{jst_now() - timedelta(days=1):%Y-%m-%d}"
    asked = stack.ops("--staff-id", STAFF_ID, "purge", "--before", before, "--reason", "test", check=False)
    assert asked.returncode == 0, asked.stderr
    purge_id = asked.stdout.split()[1]
    own = stack.ops("--staff-id", STAFF_ID, "purge-approve", purge_id, check=False)
    assert own.returncode == 1 and "approver_is_requester" in own.stderr
    second_id, _, _ = stack.second_admin()
    approved = run(  # the bootstrap-made administrator: independent of the requester
        ["recovery.cli", "--data-dir", str(stack.server_dir), "--server", stack.server_url, "--staff-id",
         second_id, "purge-approve", purge_id],
        env=stack.second_admin_env(), check=False,
    )  # fmt: skip
    assert approved.returncode == 0 and "1 issuance records" in approved.stdout, (
        approved.stdout + approved.stderr
    )
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM issuances WHERE serial = ?", (serial,)).fetchone() == (0,)
    verified = stack.ops("audit-verify")
    assert "audit trail intact" in verified.stdout
