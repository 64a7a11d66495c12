"""Virtual card readers that the tests lease, never fix.

Readers come from the pool that ``scripts/install.sh`` writes to ``/etc/reader.conf.d/konbini-test-readers``
(vpcd entries, two readers each). A test process leases a reader under a lock file in :data:`LOCK_DIR`;
the kernel drops the lock when the process ends, however it ends, so a killed run frees its readers. Two
test runs on one machine (a developer's beside CI's, two worktrees, parallel workers) therefore never put
two cards in one reader, and the demo's ``Virtual PCD 00 00/01`` are never used by a test.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

READER_CONF = Path("/etc/reader.conf.d/konbini-test-readers")
LOCK_DIR = Path("/tmp/konbini-test-locks")  # fixed: every run on the machine, whatever its TMPDIR
LEASE_WAIT_S = 300.0  # a run waits for a reader rather than failing while another run holds them all


class PoolError(Exception):
    """The reader pool is missing or stays taken; the message names the fix."""


@dataclass(frozen=True)
class Reader:
    """A vpcd reader: the name pcscd lists and the port a virtual card connects to."""

    name: str
    port: int


def pool_readers(conf: Path = READER_CONF) -> list[Reader]:
    """The readers the pool's vpcd entries give (each entry: '<name> 00 00' on its port, '00 01' on the next)."""
    try:
        text = conf.read_text()
    except OSError as exc:
        raise PoolError(f"no test card readers ({conf}: {exc.strerror}); run `make install`") from exc
    readers: list[Reader] = []
    entries = re.findall(r'FRIENDLYNAME\s+"([^"]+)".*?CHANNELID\s+(0x[0-9A-Fa-f]+|\d+)', text, re.S)
    for name, channel in entries:
        port = int(channel, 0)
        readers += [Reader(f"{name} 00 00", port), Reader(f"{name} 00 01", port + 1)]
    if not readers:
        raise PoolError(f"{conf} lists no readers; run `make install`")
    return readers


def _lock_dir() -> Path:
    LOCK_DIR.mkdir(mode=0o777, exist_ok=True)
    with contextlib.suppress(PermissionError):  # shared by every user's runs; made by the first
        LOCK_DIR.chmod(0o1777)
    return LOCK_DIR


def _try_lock(path: Path) -> int | None:
    """The fd holding ``path``'s lock, or None while another process holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    except PermissionError:  # another user's lock file: theirs
        return None
    with contextlib.suppress(PermissionError):
        os.fchmod(fd, 0o666)  # whatever the umask: every user's runs lock it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def lease_reader(wait_s: float = LEASE_WAIT_S) -> Iterator[Reader]:
    """A reader of the pool that no other process holds and that has no card in it, for as long as the
    ``with`` lasts (waiting up to ``wait_s`` while every reader is taken)."""
    from devices.card.errors import NoReader
    from devices.card.pcsc import reader_has_card
    from devices.card.pcscd import ensure_pcscd, pcscd_readers

    pool = pool_readers()
    ensure_pcscd(pool=[r.name for r in pool])
    listed = pcscd_readers() or []
    readers = [r for r in pool if r.name in listed]  # missing: its port was taken when pcscd started
    if not readers:  # pcscd stopped since ensure_pcscd
        raise PoolError("pcscd lists none of the test readers; restart pcscd")
    folder = _lock_dir()
    start = os.getpid() % len(readers)  # workers start at different readers: fewer lock attempts
    deadline = time.monotonic() + wait_s
    while True:
        for reader in readers[start:] + readers[:start]:
            fd = _try_lock(folder / f"reader-{reader.port}.lock")
            if fd is None:
                continue
            try:
                try:
                    busy = reader_has_card(reader.name)  # a card left by a run killed before it pulled it
                except NoReader:
                    raise PoolError(f"pcscd does not list {reader.name!r}; restart pcscd") from None
                if busy:
                    continue
                yield reader
                return
            finally:
                os.close(fd)
        if time.monotonic() > deadline:
            raise PoolError(f"every test reader stayed taken for {wait_s:g} s (other test runs here?)")
        time.sleep(0.2)
