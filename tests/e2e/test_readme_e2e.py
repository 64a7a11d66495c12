"""The README's "Running each process by hand", run as written in a throwaway folder: its first block in
every shell, then each line of its second block in order; the foreground commands run as services (what a
terminal of their own is), every other line must succeed. So the README cannot drift from the code.
Only the README's ports (the commands' defaults) and its reader (Virtual PCD 00 00) are replaced, by free
ports and a reader leased from the test pool, so that the test runs beside a demo and another test run."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from issuance_server.settings import Settings
from kiosk.settings import KioskSettings
from konbini_demo.authenticator import Authenticator
from konbini_demo.processes import Service, free_port
from registration.desk.cli import build_parser as build_desk_parser
from registry_sim.__main__ import DEFAULT_PORT as REGISTRY_PORT
from tests.e2e.stacks import run_demo
from tests.pool import Reader, lease_reader

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
FOREGROUND = {  # command -> what it prints once it serves
    "konbini-registry serve": "registry_sim listening on",
    "konbini-server": "konbini-server listening on",
    "konbini-card run": "inserted",
    "konbini-kiosk serve": "kiosk app ready on",
    "konbini-desk serve": "konbini-desk ready on",
}


def default_ports() -> dict[str, int]:
    """The ports the README's commands take when none is given: the code's own defaults."""
    server = {f.name: f.default for f in dataclasses.fields(Settings)}["port"]
    kiosk = {f.name: f.default for f in dataclasses.fields(KioskSettings)}["port"]
    desk = build_desk_parser().parse_args(["serve"])
    ports = {"server": server, "registry": REGISTRY_PORT, "kiosk": kiosk, "desk": desk.port}
    return {**ports, "customer": desk.customer_port}


README_PORTS = default_ports()
# What a step that relies on a default port or reader is given instead (the README's own text unchanged).
FLAGS = {
    "konbini-registry serve": "--port {registry}",
    "konbini-registry changes": "--url https://127.0.0.1:{registry}",
    "konbini-card run": "--port {vpcd}",
    "konbini-clerk register": "--reader '{reader}'",
    "konbini-kiosk session": "--reader '{reader}'",
    "konbini-kiosk serve": "--reader '{reader}' --port {kiosk}",
    "konbini-desk serve": "--reader '{reader}' --port {desk} --customer-port {customer}",
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
def reader() -> Iterator[Reader]:
    with lease_reader() as leased:
        yield leased


def substituted(step: str, ports: dict[str, int], reader: Reader) -> str:
    """``step`` on this run's ports and reader: the README's port numbers replaced, flags added for defaults."""
    for name, port in README_PORTS.items():
        step = re.sub(rf"\b{port}\b", str(ports[name]), step)
    command = re.sub(r"^(\w+=\S*\s+)*", "", step)  # after the variables it sets (KONBINI_PIN=1234 ...)
    flags = next((f for name, f in FLAGS.items() if command.startswith(name)), None)
    return f"{step} {flags.format(**ports, vpcd=reader.port, reader=reader.name)}" if flags else step


def test_every_by_hand_step_of_the_readme_runs_as_written(tmp_path: Path, reader: Reader) -> None:
    setup, steps = by_hand()
    assert steps, "no steps found"
    folder = tmp_path
    (folder / ".venv").symlink_to(ROOT / ".venv")
    ports = {name: free_port() for name in README_PORTS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONBINI_")}
    env["HOME"] = str(folder)  # the kept staff session goes to ~/.konbini/
    # The server's port and its registry's address are settings; the clients' default server is from env.
    env["KONBINI_PORT"] = str(ports["server"])
    env["KONBINI_REGISTRY_URL"] = f"https://127.0.0.1:{ports['registry']}"
    env["KONBINI_SERVER"] = f"https://127.0.0.1:{ports['server']}"
    services: list[Service] = []
    authenticator: Authenticator | None = None  # the staff member's app, once they scanned the QR code
    try:
        for n, step in enumerate(steps, start=1):
            script = "; ".join([*setup, substituted(step, ports, reader)])
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
    demo = run_demo(tmp_path, residents=300, timeout_s=300)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    printed = next(line for line in demo.stdout.splitlines() if line.startswith("check it yourself: "))
    check = subprocess.run(  # noqa: S602  runs the README's own shell lines, as a person would
        printed.removeprefix("check it yourself: "), shell=True, cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert check.returncode == 0 and check.stdout.startswith("VALID"), check.stdout + check.stderr
