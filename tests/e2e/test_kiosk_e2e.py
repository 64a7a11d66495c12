"""Across the real parts: pcscd + vpcd + the virtual card, registry_sim and the server as processes."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from konbini_demo.stack import Stack
from registry_sim.generator import DEMO_ATENA_NO, DEMO_SPOUSE_ATENA_NO
from tests.e2e.stacks import registered_card as registered
from wire.cert_qr import extract_record_text

pytestmark = pytest.mark.e2e
PIN = "2468"


@pytest.fixture
def registered_card(stack: Stack) -> Iterator[Path]:
    yield registered(stack, PIN)
    stack.remove_card()


def pdftotext(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout


def test_resident_gets_a_verifiable_juminhyo(stack: Stack, registered_card: Path, tmp_path: Path) -> None:
    result = stack.kiosk_session(PIN, tmp_path)
    assert result.returncode == 0, result.stderr
    [(serial, pdf)] = stack.printed(result)
    text = pdftotext(pdf)
    assert "𠮷田　髙志" in text  # beyond-BMP 外字 read back exactly
    assert "鹿児島市山下町11番1号" in text
    verdict = stack.verify(pdf)
    assert verdict.returncode == 0 and verdict.stdout.startswith("VALID"), verdict.stdout + verdict.stderr
    assert serial in verdict.stdout


def test_server_threads_are_named_by_role_for_the_os(
    stack: Stack, registered_card: Path, tmp_path: Path
) -> None:
    assert stack.kiosk_session(PIN, tmp_path).returncode == 0  # argon2id's first thread starts on use
    tasks = Path(f"/proc/{stack.services['server'].proc.pid}/task")
    names = {(task / "comm").read_text().strip() for task in tasks.iterdir()}
    assert {"argon2_0", "render_0", "render_1", "sqlite-writer", "sqlite-read-0"} <= names, names


def test_tampered_qr_text_is_invalid(stack: Stack, registered_card: Path, tmp_path: Path) -> None:
    result = stack.kiosk_session(PIN, tmp_path)
    [(_serial, pdf)] = stack.printed(result)
    text = extract_record_text(pdf)
    assert stack.verify(text).returncode == 0
    i = len(text) // 3
    tampered = text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :]
    verdict = stack.verify(tampered)
    assert verdict.returncode == 1 and verdict.stdout.startswith("INVALID")


def test_wrong_pin_on_the_card_counts_down_and_blocks(
    stack: Stack, registered_card: Path, tmp_path: Path
) -> None:
    outputs = [stack.kiosk_session("0000", tmp_path) for _ in range(3)]
    assert all(r.returncode != 0 for r in outputs)
    assert "2" in outputs[0].stderr and "1" in outputs[1].stderr
    blocked = stack.kiosk_session(PIN, tmp_path)  # the right PIN, after three failures
    assert blocked.returncode != 0
    assert "block" in blocked.stderr.lower() or "lock" in blocked.stderr.lower()
    assert not stack.printed(blocked)


def test_unregistered_card_is_refused(stack: Stack, tmp_path: Path) -> None:
    stack.insert_card(stack.personalise_card("stranger", PIN, holder=None))
    try:
        result = stack.kiosk_session(PIN, tmp_path)
    finally:
        stack.remove_card()
    assert result.returncode != 0 and "card_not_registered" in result.stderr


def test_a_registrar_cannot_register_another_persons_card(stack: Stack) -> None:
    """M3 across the real processes: a card the issuer made for another resident (the demo resident's
    spouse), read at the desk with its identity PIN, is refused for the demo resident; nothing is bound."""
    clerk = stack.server_client({"Authorization": f"Bearer {stack.staff_token()}"})
    listed = f"/clerk/api/registrations?atena_no={DEMO_ATENA_NO}"
    before = clerk.call("GET", listed)["registrations"]
    stack.insert_card(stack.personalise_card("spouses-card", PIN, holder=DEMO_SPOUSE_ATENA_NO))
    try:
        refused = stack.register(DEMO_ATENA_NO, PIN, check=False)
    finally:
        stack.remove_card()
    assert refused.returncode == 1 and "identity_mismatch" in refused.stderr, refused.stdout + refused.stderr
    assert clerk.call("GET", listed)["registrations"] == before


def test_no_card_in_the_reader(stack: Stack, tmp_path: Path) -> None:
    stack.remove_card()
    result = stack.kiosk_session(PIN, tmp_path, "--wait", "0.5")
    assert result.returncode == 3 and "no_card" in result.stderr


def test_no_pcscd(stack: Stack, tmp_path: Path) -> None:
    result = subprocess.run(
        [".venv/bin/python", "-m", "kiosk", "session", "--credentials", str(stack.kiosk_credentials)],
        capture_output=True,
        text=True,
        env={**os.environ, "PCSCLITE_CSOCK_NAME": str(tmp_path / "no-pcscd.sock"), "KONBINI_PIN": PIN},
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 3 and "pcscd" in result.stderr


def test_interrupted_snapshot_leaves_the_replica_intact(
    stack: Stack, registered_card: Path, tmp_path: Path
) -> None:
    before = json.loads(stack.ops("status", "--json").stdout)["replica"]
    registry = stack.registry()
    registry.call("POST", "/control/faults", {"snapshot_abort_after": 100})
    try:
        failed = stack.ops("sync", "--full", check=False)
    finally:
        registry.call("POST", "/control/faults", {"snapshot_abort_after": None})
    assert failed.returncode == 1 and "unchanged" in failed.stderr
    after = json.loads(stack.ops("status", "--json").stdout)["replica"]
    assert after["replica_file"] == before["replica_file"] and after["last_error"]
    result = stack.kiosk_session(PIN, tmp_path)  # still serving from the intact replica
    assert result.returncode == 0, result.stderr
