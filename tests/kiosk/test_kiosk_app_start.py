"""The kiosk app's plain parts: the folder printer of scripts and printer-less machines never writes over a
certificate already there; a bad setting stops the app at start with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devices.printing import FolderPrinter
from konbini_demo.processes import free_port


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
