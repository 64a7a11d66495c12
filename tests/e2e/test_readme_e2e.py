"""The README's "Running each process by hand", run as written in a throwaway folder: its first block in
every shell, then each line of its second block in order; the four foreground commands run as services
(what a terminal of their own is), every other line must succeed. So the README cannot drift from the code.
It uses the README's own defaults: ports 8470/8471/8480/8490/8491 and the reader Virtual PCD 00 00."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.pcscd import ensure_pcscd
from konbini_demo.authenticator import Authenticator
from konbini_demo.processes import Service, free_port, port_in_use

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
FOREGROUND = {  # command -> what it prints once it serves
    "konbini-registry serve": "registry_sim listening on",
    "konbini-server": "konbini-server listening on",
    "konbini-card run": "inserted",
    "konbini-kiosk serve": "kiosk app ready on",
    "konbini-desk serve": "konbini-desk ready on",
}


def by_hand() -> tuple[list[str], list[str]]:
    """(the lines every shell runs first, the steps), comments and blank lines dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Running each process by hand") :]
    section = section[: section.index("\n## ")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the section has its set-up block and its steps block"
    setup, steps = ([re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines()] for block in blocks)
    return [line for line in setup if line], [line for line in steps if line and not line.startswith("#")]


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    for port in (8470, 8471, 8480, 8490, 8491):
        if port_in_use(port):
            pytest.skip(f"port {port} is in use (a demo or a server by hand is running)")
    ensure_pcscd()
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    yield tmp_path


def test_every_by_hand_step_of_the_readme_runs_as_written(folder: Path) -> None:
    setup, steps = by_hand()
    assert steps, "no steps found"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONBINI_")}
    env["HOME"] = str(folder)  # the kept staff session goes to ~/.konbini/
    services: list[Service] = []
    authenticator: Authenticator | None = None  # the staff member's app, once they scanned the QR code
    try:
        for n, step in enumerate(steps, start=1):
            script = "; ".join([*setup, step])
            if step.startswith("konbini-clerk totp-confirm"):
                assert authenticator is not None, "totp-confirm before totp-enrol"
                script = f"export KONBINI_TOTP_CODE={authenticator.code()}; {script}"
            ready = next((text for command, text in FOREGROUND.items() if step.startswith(command)), None)
            if ready is not None:
                svc = Service(
                    f"step-{n:02d}", ["bash", "-c", script], folder / "logs", env=env, raw=True, cwd=folder
                )
                services.append(svc)
                svc.wait_log(ready, timeout_s=60)
                continue
            run = subprocess.run(
                ["bash", "-c", f"set -e; {script}"], cwd=folder, env=env, capture_output=True, text=True,
                timeout=300, check=False, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            assert run.returncode == 0, f"step {n}: {step}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
            if step.startswith("konbini-clerk totp-enrol"):
                authenticator = Authenticator.from_enrolment(run.stdout)
    finally:
        for svc in reversed(services):
            svc.stop()
    printed = list((folder / "out").glob("certificate-*.pdf"))
    assert len(printed) >= 3, printed  # the three scripted kiosk sessions
    assert shlex.split(steps[0])[0] == "konbini-registry"


def test_the_demo_ends_with_a_verify_command_that_works_as_printed(tmp_path: Path) -> None:
    ports = [str(free_port()), str(free_port())]
    demo = subprocess.run(
        [sys.executable, "-m", "konbini_demo", "--root", str(tmp_path / "demo"), "--out", str(tmp_path / "out"),
         "--residents", "300", "--registry-port", ports[0], "--server-port", ports[1]],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    printed = next(line for line in demo.stdout.splitlines() if line.startswith("check it yourself: "))
    check = subprocess.run(
        printed.removeprefix("check it yourself: "), shell=True, cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert check.returncode == 0 and check.stdout.startswith("VALID"), check.stdout + check.stderr
