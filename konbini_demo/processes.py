"""Starting and stopping the system's processes (registry_sim, server, virtual card) for the demo and the
end-to-end tests: each a real subprocess with its own log file."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from wire.http_json import HttpError, JsonClient


class ServiceError(Exception):
    pass


PORT_RANGE = (20000, 32000)  # below Linux's ephemeral ports (32768-60999): no outgoing connection takes one
PORT_LOCKS = Path("/tmp/konbini-port-locks")  # fixed: every run on the machine, whatever its TMPDIR  # noqa: S108  a fixed folder every run on the machine shares (sticky, like /tmp); holds only lock files
_reserved: dict[int, int] = {}  # port -> the fd of its lock file, held until this process ends


def free_port() -> int:
    """A loopback port nobody listens on and that no other process of this machine was handed: each is
    reserved under a lock file for as long as this process lives (parallel test workers, two test runs and
    a demo never get the same port between choosing it and binding it)."""
    PORT_LOCKS.mkdir(mode=0o777, exist_ok=True)
    with contextlib.suppress(PermissionError):
        PORT_LOCKS.chmod(0o1777)  # shared by every user's runs; made by the first
    for _ in range(1000):
        port = random.randrange(*PORT_RANGE)  # noqa: S311  synthetic data or a port to try, not a secret
        if port in _reserved:
            continue
        try:
            fd = os.open(PORT_LOCKS / str(port), os.O_RDONLY | os.O_CREAT, 0o666)
        except PermissionError:  # another user's reservation
            continue
        with contextlib.suppress(PermissionError):
            os.fchmod(fd, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if _bindable(port):
            _reserved[port] = fd
            return port
        os.close(fd)
    raise ServiceError(f"no free port in {PORT_RANGE[0]}-{PORT_RANGE[1]} after 1000 tries")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT does not count
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Service:
    def __init__(
        self,
        name: str,
        args: Sequence[str],
        log_dir: Path,
        env: dict[str, str] | None = None,
        raw: bool = False,
        cwd: Path | None = None,
    ) -> None:
        """``args``: a Python module and its arguments (``python -m``), or with ``raw`` a whole command."""
        self.name = name
        self.args = list(args) if raw else [sys.executable, "-m", *args]
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # logs: 0600 like the rest
        self._log = os.fdopen(fd, "ab")
        self._log_start = self._log.tell()  # wait_log looks only at what this run writes
        self.proc = subprocess.Popen(  # noqa: S603  a fixed argv, no shell
            self.args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            cwd=cwd,
        )

    def wait_http(self, url: str, timeout_s: float = 30, ssl_context: ssl.SSLContext | None = None) -> None:
        """Wait until ``url`` answers (any HTTP status), through the one command client."""
        parts = urllib.parse.urlsplit(url)
        client = JsonClient(f"{parts.scheme}://{parts.netloc}", {}, timeout_s=2, ssl_context=ssl_context)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                client.request("GET", parts.path or "/")
                return
            except HttpError:
                time.sleep(0.1)
        raise ServiceError(f"{self.name} did not answer {url} within {timeout_s} s; see {self.log_path}")

    def wait_log(self, text: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            time.sleep(0.05)
        raise ServiceError(f"{self.name} did not print {text!r} within {timeout_s} s; see {self.log_path}")

    def output(self) -> str:
        """What this run has written to its log so far."""
        with open(self.log_path, "rb") as fh:
            fh.seek(self._log_start)
            return fh.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def run(
    args: Sequence[str], env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <args>`` to completion, capturing its output."""
    result = subprocess.run(  # noqa: S603  a fixed argv, no shell
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if check and result.returncode != 0:
        raise ServiceError(
            f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
        )
    return result
