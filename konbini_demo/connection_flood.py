"""A flood of TCP connections that never start TLS, for the connection gate's test and bench: open them,
count how many the server kept, sample the server's memory meanwhile."""

from __future__ import annotations

import contextlib
import fcntl
import resource
import socket
import struct
import threading
import time
from pathlib import Path

_SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address


def raise_fd_limit(needed: int) -> int:
    """Raise this process's open-file limit toward ``needed`` (to the hard limit); what it allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def flood(host: str, port: int, n: int, source: str = "") -> list[socket.socket]:
    """``n`` connections held open, sending nothing (a TLS server waits for a ClientHello)."""
    out = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if source:
            s.bind((source, 0))
        try:
            s.connect((host, port))
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        out.append(s)
    return out


def still_open(conns: list[socket.socket], settle_s: float = 1.0) -> int:
    """How many the server has not closed (after ``settle_s`` for its closes to arrive)."""
    time.sleep(settle_s)
    alive = 0
    for s in conns:
        try:
            alive += s.recv(1) != b""  # a byte: open (a server never talks first here)
        except BlockingIOError:
            alive += 1  # nothing to read: open
        except OSError:
            pass  # reset: closed by the server
    return alive


def close_all(conns: list[socket.socket]) -> None:
    for s in conns:
        with contextlib.suppress(OSError):
            s.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for {pid}")


class PeakRss:
    """The highest RSS of process ``pid`` while the block runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_mib = pid, rss_mib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            with contextlib.suppress(OSError, ValueError):
                self.peak_mib = max(self.peak_mib, rss_mib(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(OSError, ValueError):
            self.peak_mib = max(self.peak_mib, rss_mib(self.pid))


def other_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (None if it has none), from its interfaces."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, request)
            except OSError:
                continue  # no IPv4 address on this interface
            address = socket.inet_ntoa(answer[20:24])
            if not address.startswith("127."):
                return address
    return None
