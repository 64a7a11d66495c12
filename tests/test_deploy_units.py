"""The systemd units of docs/deploy.md are valid (``systemd-analyze verify``: keys, values, executables): this
machine's PID 1 is not systemd, so they are verified, not started."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
HAPROXY_UNIT = Path("/lib/systemd/system/haproxy.service")


def verify(folder: Path, *units: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )


def installed(tmp_path: Path) -> Path:
    """The units as installed from this checkout (/opt/konbini is the checkout), the HAProxy drop-in beside
    Debian's haproxy.service."""
    for unit in UNITS.glob("*.service"):
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/konbini", str(ROOT)))
    drop_in = tmp_path / "haproxy.service.d"
    drop_in.mkdir()
    shutil.copy(UNITS / "haproxy-konbini.conf", drop_in / "konbini.conf")
    shutil.copy(HAPROXY_UNIT, tmp_path / "haproxy.service")
    return tmp_path


def test_the_deployment_units_verify_without_a_warning(tmp_path: Path) -> None:
    folder = installed(tmp_path)
    units = sorted(p.name for p in UNITS.glob("*.service"))
    assert units == ["konbini-kiosk.service", "konbini-server.service"]
    result = verify(folder, *units, "haproxy.service")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.mark.parametrize(
    ("unit", "broken"),
    [("konbini-server.service", "Restart=sometimes"), ("haproxy.service.d/konbini.conf", "Bogus=1")],
)
def test_a_broken_unit_is_reported(tmp_path: Path, unit: str, broken: str) -> None:
    folder = installed(tmp_path)
    path = folder / unit
    path.write_text(path.read_text() + f"\n[Service]\n{broken}\n")
    result = verify(folder, "konbini-server.service", "haproxy.service")
    assert result.stderr.strip(), "a broken unit must not verify silently"
