"""The registry link across real processes: registry_sim and the server, with faults injected into the
registry (killed, slow, flapping, garbage, gaps, resets) and the server itself killed mid-feed."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from konbini_demo.processes import run
from konbini_demo.soft_kiosk import SoftKiosk
from konbini_demo.stack import Stack
from registry_sim.generator import DEMO_ATENA_NO
from tests.e2e.stacks import FAST_LINK, demo_kiosk, running_stack, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("link"), residents=400, server_settings=FAST_LINK) as s:
        yield s


@pytest.fixture(scope="module")
def kiosk(stack: Stack) -> SoftKiosk:
    return demo_kiosk(stack)


@pytest.fixture(autouse=True)
def healthy_registry(stack: Stack) -> Iterator[None]:
    """Every test starts and ends with the registry up, without faults, and the server in normal mode."""
    yield
    if "registry_sim" not in stack.services:
        stack.restart_registry()
    stack.registry().call(
        "POST",
        "/control/faults",
        {"slow_ms": 0, "down": False, "garbage": False, "flap_period_s": None, "feed_abort_after": None},
    )
    stack.registry().call("POST", "/control/generate", {"rate": 0})
    wait_for("normal mode", lambda: mode(stack) == "normal", 30)


def mode(stack: Stack) -> str:
    return str(stack.ops_status()["mode"]["mode"])


def link(stack: Stack) -> dict[str, Any]:
    return dict(stack.ops_status()["link"])


def caught_up(stack: Stack) -> bool:
    health = stack.registry().call("GET", "/health")
    return link(stack)["replica_seq"] == health["seq"]


def replica_record(stack: Stack, rtype: str, key: str) -> dict[str, Any]:
    return dict(stack.registry().call("GET", f"/records/{rtype}/{key}"))


def upsert(stack: Stack, record: dict[str, Any]) -> None:
    stack.registry().call("POST", "/control/apply", {"changes": [{"op": "upsert", "record": record}]})


def test_the_replica_follows_the_feed(stack: Stack) -> None:
    stack.registry().call("POST", "/control/generate", {"rate": 200, "duration_s": 1, "seed": 7})
    time.sleep(1.5)
    wait_for("the replica to catch up", lambda: caught_up(stack))
    assert link(stack)["changes_applied"] > 0


def test_a_seal_cancelled_upstream_a_moment_ago_is_refused(stack: Stack, kiosk: SoftKiosk) -> None:
    result = kiosk.session("inkan")
    assert "serial" in result, result
    seal = next(iter(_demo_seals(stack)))
    upsert(stack, {**seal, "status": "abolished", "version": seal["version"] + 1})
    refused = kiosk.session("inkan")  # at once: the version probe sees the change before the feed poll
    assert refused.get("refusal", {}).get("code") in ("seal_cancelled", "no_active_seal"), refused
    upsert(stack, {**seal, "status": "active", "version": seal["version"] + 2})


def _demo_seals(stack: Stack) -> list[dict[str, Any]]:
    """The demo resident's active seals, read from registry_sim's own file."""
    conn = sqlite3.connect(stack.registry_db)
    try:
        rows = conn.execute("SELECT body FROM records WHERE type = 'seal'").fetchall()
    finally:
        conn.close()
    seals = [json.loads(r[0]) for r in rows]
    return [s for s in seals if s["owner_atena_no"] == DEMO_ATENA_NO and s["status"] == "active"]


def test_registry_killed_fails_over_keeps_issuing_and_comes_back(stack: Stack, kiosk: SoftKiosk) -> None:
    assert "serial" in kiosk.session()
    stack.kill("registry_sim")
    result = kiosk.session()  # the probe fails: failover at once, the session is not lost
    assert "serial" in result, result
    wait_for("recovery mode", lambda: mode(stack) == "recovery", 15)
    in_recovery = kiosk.session()
    assert "serial" in in_recovery
    stack.restart_registry()
    wait_for("normal mode after catch-up", lambda: mode(stack) == "normal", 30)
    assert "serial" in kiosk.session()


def test_slow_registry_opens_the_breaker(stack: Stack) -> None:
    stack.registry().call("POST", "/control/faults", {"slow_ms": 2000})
    wait_for("recovery mode", lambda: mode(stack) == "recovery", 10)
    assert link(stack)["breaker"]["state"] in ("open", "half_open")


def test_garbage_from_the_registry_is_not_applied(stack: Stack) -> None:
    before = link(stack)["replica_seq"]
    stack.registry().call("POST", "/control/faults", {"garbage": True})
    wait_for("recovery mode", lambda: mode(stack) == "recovery", 10)
    assert link(stack)["replica_seq"] == before


def test_flapping_registry_does_not_make_the_mode_thrash(stack: Stack) -> None:
    before = stack.ops_status()["link"]["failovers"]
    stack.registry().call("POST", "/control/faults", {"flap_period_s": 0.4})
    time.sleep(6)
    stack.registry().call("POST", "/control/faults", {"flap_period_s": None})
    switches = stack.ops_status()["link"]["failovers"] - before
    # Without hysteresis a 0.4 s flap would switch the mode about 15 times in 6 s.
    assert switches <= 5


def test_feed_dying_mid_batch_leaves_no_half_applied_change(stack: Stack) -> None:
    stack.registry().call("POST", "/control/faults", {"feed_abort_after": 5})
    stack.registry().call("POST", "/control/generate", {"rate": 300, "duration_s": 1, "seed": 11})
    time.sleep(2)
    stack.registry().call("POST", "/control/faults", {"feed_abort_after": None})
    wait_for("normal mode", lambda: mode(stack) == "normal", 30)
    wait_for("catch-up", lambda: caught_up(stack), 15)
    check = stack.ops("check")
    assert "consistent" in check.stdout, check.stdout + check.stderr


@pytest.mark.parametrize("fault", ["gap", "reset"])
def test_sequence_gap_or_reset_leads_to_a_resync(stack: Stack, fault: str) -> None:
    body = {"skip": 5} if fault == "gap" else {}
    stack.registry().call("POST", f"/control/{fault}", body)
    stack.registry().call("POST", "/control/generate", {"rate": 100, "duration_s": 0.5, "seed": 3})
    time.sleep(1)
    wait_for("catch-up after resync", lambda: caught_up(stack), 30)
    check = stack.ops("check")
    assert "consistent" in check.stdout, check.stdout + check.stderr
    status = stack.ops("status").stdout  # one reading: says the resync and why, and one registry seq
    assert re.search(r"last resync .*(gap|reset|epoch|sequence)", status), status
    feed = re.search(r"feed\s+replica seq (\d+) / registry seq (\d+)", status)
    assert feed is not None and feed[1] == feed[2], status
    assert "\nregistry seq" not in status, status


def test_server_killed_mid_feed_resumes_from_its_checkpoint(stack: Stack, tmp_path: Path) -> None:
    stack.registry().call("POST", "/control/generate", {"rate": 400, "duration_s": 2, "seed": 5})
    time.sleep(0.8)
    stack.kill("server")
    time.sleep(1.5)
    stack.start_server()
    wait_for("catch-up after restart", lambda: caught_up(stack), 30)
    check = stack.ops("check")
    assert "consistent" in check.stdout, check.stdout + check.stderr


def test_manual_recovery_stays_until_released_and_reconcile_reports(
    stack: Stack, kiosk: SoftKiosk, tmp_path: Path
) -> None:
    stack.ops("mode", "recovery", "--reason", "test: registry maintenance")
    issued = kiosk.session()
    assert "serial" in issued
    person = replica_record(stack, "resident", DEMO_ATENA_NO)
    upsert(stack, {**person, "kyuuji": "鹿児島", "version": person["version"] + 1})  # 旧氏 registered
    time.sleep(1)
    assert mode(stack) == "recovery"  # manual: the breaker does not end it
    stack.ops("mode", "normal")
    wait_for("catch-up", lambda: caught_up(stack), 15)
    csv_path = tmp_path / "reconcile.csv"
    report = stack.ops("reconcile", "--csv", str(csv_path))
    assert issued["serial"] in report.stdout and "kyuuji" in report.stdout
    assert issued["serial"] in csv_path.read_text()


def test_a_household_certificate_includes_someone_born_upstream_a_moment_ago(
    stack: Stack, kiosk: SoftKiosk
) -> None:
    from registry_sim.generator import DEMO_CHILD_ATENA_NO
    from tests.factories import kojin_bango

    sibling = replica_record(stack, "resident", DEMO_CHILD_ATENA_NO)
    baby = {
        **sibling,
        "atena_no": "0099999991",
        "kojin_bango": kojin_bango(99_999_991),
        "juminhyo_code": "99999999911",
        "name": "𠮷田　新太",
        "name_kana": "よしだ　あらた",
        "birth_date": time.strftime("%Y-%m-%d"),
        "version": 1,
    }
    upsert(stack, baby)  # and at once, before the feed's next poll:
    result = kiosk.session("juminhyo", scope="household")
    try:
        assert "serial" in result, result
        path = stack.root / "baby.pdf"
        path.write_bytes(result["pdf"])
        assert "𠮷田　新太" in stack.pdf_text(path)
    finally:
        stack.registry().call(
            "POST", "/control/apply", {"changes": [{"op": "remove", "t": "resident", "key": "0099999991"}]}
        )


def test_a_damaged_replica_is_reported_and_repaired_by_a_resync(stack: Stack) -> None:
    replica = next((stack.server_dir / "replica").glob("replica-*.sqlite3"))
    conn = sqlite3.connect(replica)
    try:  # damage behind the server's back: one seal lost
        conn.execute("DELETE FROM seal WHERE seal_no = (SELECT MIN(seal_no) FROM seal)")
        conn.commit()
    finally:
        conn.close()
    found = stack.ops("check", check=False)
    assert found.returncode == 1 and "MISMATCH" in found.stdout and "seal" in found.stdout
    repaired = stack.ops("check", "--repair", check=False)
    assert repaired.returncode == 0 and "repaired" in repaired.stdout, repaired.stdout + repaired.stderr
    assert "consistent" in stack.ops("check").stdout


def test_desk_clerks_search_and_issue_at_the_counter_in_recovery(stack: Stack, tmp_path: Path) -> None:
    refused = stack.clerk("issue", "--atena-no", DEMO_ATENA_NO, "--out", str(tmp_path), check=False)
    assert refused.returncode == 1 and "counter_issuance_recovery_only" in refused.stderr
    stack.ops("mode", "recovery", "--reason", "test: counter work")
    try:
        found = stack.clerk("search", "--kana", "よしだ　たかし")
        assert DEMO_ATENA_NO in found.stdout and "********" in found.stdout  # 個人番号 masked
        issued = stack.clerk(
            "issue",
            "--atena-no",
            DEMO_ATENA_NO,
            "--kind",
            "juminhyo",
            "--scope",
            "household",
            "--option",
            "householder",
            "--out",
            str(tmp_path),
        )
        path = Path(issued.stdout.split("certificate=")[1].split()[0])
        assert stack.verify(path).stdout.startswith("VALID")  # QR record and PAdES signature
    finally:
        stack.ops("mode", "normal")


def test_a_card_revoked_at_the_card_ca_is_refused_within_a_refresh(stack: Stack) -> None:
    """registry_sim publishes the card CA's CRL (as J-LIS would); the server fetches it on a schedule."""
    lost = SoftKiosk(stack, DEMO_ATENA_NO, name="lost-card")
    lost.register()
    assert "serial" in lost.session()
    run(["devices.card.cli", "revoke", str(stack.root / "cards" / f"lost-card-{DEMO_ATENA_NO}.json"),
         "--ca-dir", str(stack.ca_dir)])  # fmt: skip
    wait_for("the revocation to reach the server", lambda: lost.session().get("error") == "card_revoked", 15)
    crl = stack.registry().fetch("/crl/card-ca.crl")
    assert (
        x509.load_der_x509_crl(crl).get_revoked_certificate_by_serial_number(
            x509.load_der_x509_certificate(lost.cert).serial_number
        )
        is not None
    )


def test_a_full_sync_by_hand_shows_percentage_and_time_left(stack: Stack) -> None:
    done = stack.ops("sync")  # --full is the only kind and may be left out
    lines = done.stderr.strip().splitlines()
    assert lines and "100%" in lines[-1] and "records" in lines[-1], done.stderr
    assert done.stdout.startswith("sync done:")
