"""A pcscd of a test's own, to stop and start at will while the machine's pcscd (and every other test's
reader) runs on: pcscd in a mount namespace of its own (``unshare -m``) whose ``/run/pcscd`` is a folder of
the test (a bind mount), reading a reader.conf.d of its own with one vpcd reader on a free port. Clients
reach it with ``PCSCLITE_CSOCK_NAME`` (libpcsclite honours it; the daemon's socket path is fixed, hence the
namespace); the machine's mounts are untouched."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from devices.card.pcscd import VPCD_DRIVER
from konbini_demo.processes import Service, free_port

NAME = "Konbini Private"


class PrivatePcscd:
    def __init__(self, folder: Path, log_dir: Path) -> None:
        self.folder, self.log_dir = folder, log_dir
        self.port = free_port()
        self.reader = f"{NAME} 00 00"
        self.run_dir = folder / "run"
        self.socket = str(self.run_dir / "pcscd.comm")
        self.service: Service | None = None
        conf = folder / "reader.conf.d"
        conf.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        (conf / "private").write_text(
            f'FRIENDLYNAME "{NAME}"\nDEVICENAME /dev/null:0x{self.port:X}\nLIBPATH {VPCD_DRIVER}\n'
            f"CHANNELID 0x{self.port:X}\n"
        )
        self.conf = conf

    @property
    def env(self) -> dict[str, str]:
        """A client's environment for this pcscd."""
        return {"PCSCLITE_CSOCK_NAME": self.socket}

    def start(self, timeout_s: float = 15) -> None:
        script = (
            f"mount --bind {shlex.quote(str(self.run_dir))} /run/pcscd"
            f" && exec pcscd --foreground -c {shlex.quote(str(self.conf))}"
        )
        self.service = Service(
            "pcscd-private",
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            self.log_dir,
            raw=True,
        )
        deadline = time.monotonic() + timeout_s
        while self.reader not in self.readers():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the private pcscd did not list {self.reader!r}; see {self.service.log_path}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop it as the service dies (SIGTERM); its socket goes with it."""
        if self.service is not None:
            self.service.stop()
            self.service = None
        Path(self.socket).unlink(missing_ok=True)

    def readers(self) -> list[str]:
        """What it lists, asked from a process of its own (this one's libpcsclite keeps the first socket it
        used)."""
        out = subprocess.run(
            [sys.executable, "-c", "from smartcard.System import readers; print('\\n'.join(map(str, readers())))"],
            capture_output=True, text=True, check=False, env={**os.environ, **self.env},
        )  # fmt: skip
        return out.stdout.splitlines() if out.returncode == 0 else []
