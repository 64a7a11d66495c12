"""Start pcscd (with the vpcd virtual readers) for tests and the demo, and stop it if we started it.

A real kiosk runs pcscd as a system service; this module is for machines where nobody started it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from smartcard import scard

log = logging.getLogger(__name__)

VPCD_READERS: Final = ("Virtual PCD 00 00", "Virtual PCD 00 01")
VPCD_DRIVER: Final = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READER_CONF_DIR: Final = Path("/etc/reader.conf.d")
PID_FILE: Final = Path("/run/pcscd/pcscd.pid")
PCSCD_PATHS: Final = (Path("/usr/sbin/pcscd"),)  # root's PATH has it; a user's PATH may not
START_LOCK: Final = Path("/run/konbini-pcscd-start.lock")  # root's: only root starts pcscd

_started_pid: int | None = None


class PcscdSetupError(Exception):
    """pcscd or vpcd is missing or would not start; the message names the fix."""


def pcscd_readers() -> list[str] | None:
    """The readers pcscd lists, or None if pcscd is not answering."""
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return None
    try:
        hr, readers = scard.SCardListReaders(ctx, [])
        return list(readers) if hr == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(ctx)


def _find_pcscd() -> str | None:
    return shutil.which("pcscd") or next((str(c) for c in PCSCD_PATHS if c.exists()), None)


def _vpcd_installed() -> bool:
    if not VPCD_DRIVER.exists() or not READER_CONF_DIR.is_dir():
        return False
    return any(
        "libifdvpcd" in f.read_text(errors="replace") for f in READER_CONF_DIR.iterdir() if f.is_file()
    )


def _listed(readers: list[str] | None, need: Sequence[str]) -> bool:
    return readers is not None and all(r in readers for r in need)


def _enough(readers: list[str] | None, need: Sequence[str], pool: Sequence[str]) -> bool:
    return _listed(readers, need) and (not pool or any(r in (readers or []) for r in pool))


def _wait_readers(deadline: float, need: Sequence[str], pool: Sequence[str] = ()) -> list[str] | None:
    """pcscd's readers once it lists ``need`` and every reader of ``pool``, or whatever it lists at
    ``deadline``."""
    while True:
        readers = pcscd_readers()
        if _listed(readers, [*need, *pool]):
            return readers
        if time.monotonic() >= deadline:
            return readers
        time.sleep(0.1)


def ensure_pcscd(timeout_s: float = 10, require_vpcd: bool = True, pool: Sequence[str] = ()) -> bool:
    """Make sure pcscd answers and lists the two vpcd readers and at least one reader of ``pool`` (a pool
    reader whose port was taken when pcscd started is missing; the caller leases among those listed);
    return True if this call started it."""
    deadline = time.monotonic() + timeout_s
    need = [*VPCD_READERS] if require_vpcd else []
    readers = pcscd_readers()
    if readers is not None:
        if _enough(readers, need, pool):
            return False
        readers = _wait_readers(deadline, need, pool)  # pcscd may still be loading its drivers
        if _enough(readers, need, pool):
            return False
        if pool and _listed(readers, VPCD_READERS):
            raise PcscdSetupError(
                f"pcscd is running without any of the test readers ({pool[0]!r}, ...): it started before "
                "`make install` added them, or their ports were taken when it started; restart pcscd"
            )
        raise PcscdSetupError(
            "pcscd is running without the vpcd readers 'Virtual PCD 00 00/01'; install the Debian package "
            "vsmartcard-vpcd and restart pcscd"
        )
    binary = _find_pcscd()
    if binary is None:
        raise PcscdSetupError(
            "pcscd is not installed; install the Debian package pcscd (apt-get install pcscd)"
        )
    if require_vpcd and not _vpcd_installed():
        raise PcscdSetupError(
            "the vpcd virtual reader driver is not installed; install the Debian package vsmartcard-vpcd"
        )
    if os.geteuid() != 0:
        raise PcscdSetupError("pcscd is not running and must be started as root: run `sudo pcscd`")
    with _one_starter():
        if pcscd_readers() is not None:  # another process started it while this one waited
            return ensure_pcscd(max(deadline - time.monotonic(), 0.1), require_vpcd, pool)
        return _start(binary, deadline, timeout_s, need, pool)


@contextlib.contextmanager
def _one_starter() -> Iterator[None]:
    """One process at a time starts pcscd: two started at once share out the vpcd readers' ports between
    them, and the one left running lists neither vpcd reader (seen with three test workers starting at once)."""
    try:
        fd = os.open(START_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        fd = -1
    if fd < 0:  # no /run to lock in: start unserialised, as before
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and the lock with it


def _start(binary: str, deadline: float, timeout_s: float, need: Sequence[str], pool: Sequence[str]) -> bool:
    """Start pcscd and wait for its readers; True if this process's start is the one running."""
    global _started_pid
    with tempfile.TemporaryFile() as err:
        # pcscd daemonises: the command returns once the daemon is forked.
        rc = subprocess.run(  # noqa: S603  a fixed argv, no shell
            [binary], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        ).returncode
        err.seek(0)
        detail = err.read().decode(errors="replace").strip()
    readers = _wait_readers(deadline, need, pool)
    if not _enough(readers, need, pool):
        raise PcscdSetupError(
            f"started pcscd (exit {rc}) but it did not list the readers within {timeout_s:g} s"
            + (f": {detail}" if detail else "")
        )
    if missing := [r for r in pool if r not in (readers or [])]:
        log.warning("pcscd lists %d of the %d test readers (a port taken?); missing: %s",
                    len(pool) - len(missing), len(pool), ", ".join(missing))  # fmt: skip
    if rc != 0:  # another process started it at the same time: not ours to stop
        return False
    _started_pid = _read_pid()
    log.info("started pcscd (pid %s); readers: %s", _started_pid, ", ".join(readers or []))
    return True


def _read_pid(wait_s: float = 2.0) -> int | None:
    """The daemon's pid from its pid file (written shortly after the readers appear)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            pid = int(PID_FILE.read_bytes().split(b"\n")[0].strip(b"\0 \t\r"))
            if _is_pcscd(pid):
                return pid
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _is_pcscd(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "pcscd"
    except OSError:
        return False


def stop_pcscd_if_started(timeout_s: float = 5.0) -> bool:
    """Stop the pcscd that :func:`ensure_pcscd` started (by its pid); True if it stopped one."""
    global _started_pid
    pid, _started_pid = _started_pid, None
    if pid is None or not _is_pcscd(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _is_pcscd(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True
