"""The kiosk app's plain parts: the folder printer of scripts and printer-less machines never writes over a
certificate already there; a bad setting stops the app at start with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices.printing import FolderPrinter
from kiosk.app import issuing_key
from konbini_demo.processes import free_port
from wire.cert_record import public_key_pem
from wire.kiosk_client import KioskCredentials


async def test_a_second_certificate_with_the_same_serial_gets_its_own_file(tmp_path: Path) -> None:
    printer = FolderPrinter(tmp_path / "out")
    first = await printer.print_pdf(b"%PDF-first", "20261130-000001")
    second = await printer.print_pdf(b"%PDF-second", "20261130-000001")  # another data folder's serial 1
    assert first.printed and second.printed and first.path != second.path
    assert first.path is not None and second.path is not None
    assert first.path.read_bytes() == b"%PDF-first" and second.path.read_bytes() == b"%PDF-second"
    assert second.path.name == "certificate-20261130-000001-2.pdf"
    assert {p.name for p in (tmp_path / "out").iterdir()} == {first.path.name, second.path.name}


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("KONBINI_KIOSK_HOST", "0.0.0.0", "its own machine only"),
        ("KONBINI_KIOSK_PORT", "eighty", "port"),
        ("KONBINI_KIOSK_IDLE_TIMEOUT_S", "0", "above 0"),
        ("KONBINI_KIOSK_PAYMENT", "cash-drawer", "allowed: simulated"),
    ],
)
def test_a_bad_kiosk_setting_stops_the_app_with_one_line(variable: str, value: str, says: str) -> None:
    # A free port and no real reader, were a bad setting let through: nothing of another run is touched.
    own = {"KONBINI_KIOSK_PORT": str(free_port()), "KONBINI_KIOSK_READER": "No Such Reader 00 00"}
    run = subprocess.run(
        [sys.executable, "-m", "kiosk", "serve"], env={**os.environ, **own, variable: value},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and says in lines[0], run.stderr


def test_credentials_without_the_citys_issuing_key_ask_for_a_new_enrolment(tmp_path: Path) -> None:
    """A credentials file written before the print guard names no issuing key: the app does not start
    without it (it could check no certificate), and says how to get one."""
    for name in ("k.crt", "k.key", "ca.crt"):
        (tmp_path / name).write_text("x")
    creds = {"kiosk_id": "kiosk-009", "server": "https://127.0.0.1:1", "client_cert": "k.crt",
             "client_key": "k.key", "server_ca": "ca.crt"}  # fmt: skip
    path = tmp_path / "kiosk.json"
    path.write_text(json.dumps(creds))
    with pytest.raises(SystemExit, match=r"name no issuing key.*konbini-ops kiosk-add"):
        issuing_key(KioskCredentials.load(path), path)
    (tmp_path / "issuing.pem").write_text("not a key")
    path.write_text(json.dumps({**creds, "issuing_key": "issuing.pem"}))
    with pytest.raises(SystemExit, match="cannot be read"):
        issuing_key(KioskCredentials.load(path), path)
    key = Ed25519PrivateKey.generate().public_key()
    (tmp_path / "issuing.pem").write_bytes(public_key_pem(key))
    assert issuing_key(KioskCredentials.load(path), path) == key
