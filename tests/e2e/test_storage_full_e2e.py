"""The server's data folder on a small tmpfs, mounted in a mount namespace of the server's own (``unshare
-m``: the machine's mounts are untouched), filled to the last byte while it serves: kiosks get the stable
``storage_full`` code and nothing is written half; once space returns, the same kiosk gets its certificate,
and the database and the audit chain are intact."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator

import pytest

from konbini_demo.processes import Service
from konbini_demo.stack import Stack
from tests.e2e.stacks import demo_kiosk, running_stack
from wire.http_json import HttpError

pytestmark = pytest.mark.e2e
ROOM_MB = 24  # the tmpfs: what the data folder holds now, and this much more


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("storage-full"), residents=100) as s:
        yield s


def folder_mb(stack: Stack) -> int:
    out = subprocess.run(["du", "-sm", str(stack.server_dir)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def server_on_a_small_disk(stack: Stack) -> Service:
    """The stack's server again, its data folder a copy on a tmpfs of its mount namespace."""
    stack.services["server"].stop()
    folder, small = stack.server_dir, stack.root / "small-disk"
    small.mkdir(exist_ok=True)
    script = " && ".join(
        [
            f"mount -t tmpfs -o size={folder_mb(stack) + ROOM_MB}m,mode=0700 tmpfs {shlex.quote(str(small))}",
            f"cp -a {shlex.quote(str(folder))}/. {shlex.quote(str(small))}/",
            f"mount --bind {shlex.quote(str(small))} {shlex.quote(str(folder))}",
            f"exec {shlex.quote(sys.executable)} -m issuance_server",
        ]
    )
    command = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
    svc = Service("server-small-disk", command, stack.logs, env=stack.server_env(), raw=True)
    stack.services["server"] = svc
    svc.wait_log("konbini-server listening on")
    return svc


def inside(server: Service, *command: str) -> subprocess.CompletedProcess[str]:
    """``command`` in the server's mount namespace (where its data folder is the small disk)."""
    return subprocess.run(
        ["nsenter", "-t", str(server.proc.pid), "-m", "--", *command],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_full_data_folder_gives_storage_full_and_service_resumes_when_space_returns(stack: Stack) -> None:
    kiosk = demo_kiosk(stack)
    server = server_on_a_small_disk(stack)
    filler = str(stack.server_dir / "filler")
    inside(server, "sh", "-c", f"dd if=/dev/zero of={shlex.quote(filler)} bs=64k 2>/dev/null; sync")
    assert "100%" in inside(server, "df", str(stack.server_dir)).stdout
    with pytest.raises(HttpError) as refused:
        kiosk.session("inkan")  # its first step, the session's opening, is a write
    assert (refused.value.code, refused.value.status) == ("storage_full", 503)
    assert "the disk is full; nothing was changed" in server.output()
    assert inside(server, "rm", filler).returncode == 0  # space again
    issued = kiosk.session("inkan")
    assert "pdf" in issued, issued
    check = inside(
        server, sys.executable, "-c",
        "import sqlite3, sys; print(sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)"
        ".execute('PRAGMA integrity_check').fetchone()[0])",
        str(stack.server_dir / "konbini.sqlite3"),
    )  # fmt: skip
    assert check.stdout.strip() == "ok", check.stderr
    verified = stack.ops("audit-verify")  # through the server, which reads its own (small) disk
    assert verified.returncode == 0, verified.stdout + verified.stderr
