"""Starting pcscd: clear errors when a piece is missing; no start when it already runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.card import pcscd as pcscd_mod
from devices.card.pcscd import PcscdSetupError, ensure_pcscd, stop_pcscd_if_started


@pytest.fixture
def no_pcscd_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcscd_mod, "pcscd_readers", lambda: None)


def test_pcscd_not_installed(no_pcscd_running: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcscd_mod.shutil, "which", lambda name: None)
    monkeypatch.setattr(pcscd_mod, "PCSCD_PATHS", (Path("/nonexistent/pcscd"),))
    with pytest.raises(PcscdSetupError, match="Debian package pcscd"):
        ensure_pcscd(timeout_s=0.1)


def test_vpcd_not_installed(no_pcscd_running: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pcscd_mod.shutil, "which", lambda name: "/usr/sbin/pcscd")
    monkeypatch.setattr(pcscd_mod, "VPCD_DRIVER", tmp_path / "libifdvpcd.so")
    with pytest.raises(PcscdSetupError, match="vsmartcard-vpcd"):
        ensure_pcscd(timeout_s=0.1)


def test_not_root(no_pcscd_running: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcscd_mod.shutil, "which", lambda name: "/usr/sbin/pcscd")
    monkeypatch.setattr(pcscd_mod, "_vpcd_installed", lambda: True)
    monkeypatch.setattr(pcscd_mod.os, "geteuid", lambda: 1000)
    with pytest.raises(PcscdSetupError, match="sudo pcscd"):
        ensure_pcscd(timeout_s=0.1)


def test_pcscd_without_vpcd_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcscd_mod, "pcscd_readers", lambda: ["Some USB Reader 00 00"])
    with pytest.raises(PcscdSetupError, match="vsmartcard-vpcd and restart pcscd"):
        ensure_pcscd(timeout_s=0.2)


@pytest.mark.e2e
def test_already_running_is_not_started_again(pcscd: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ensure_pcscd() is False
    assert pcscd in (pcscd_mod.pcscd_readers() or [])
    monkeypatch.setattr(pcscd_mod, "_started_pid", None)  # as if this process had not started it
    assert stop_pcscd_if_started() is False  # never stops a pcscd it did not start


POOL = ["Konbini Test A 00 00", "Konbini Test A 00 01"]


def test_a_pool_reader_missing_from_a_running_pcscd_is_tolerated(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader whose port was taken when pcscd started is missing; the pool leases among the others."""
    monkeypatch.setattr(pcscd_mod, "pcscd_readers", lambda: [*pcscd_mod.VPCD_READERS, POOL[1]])
    assert ensure_pcscd(timeout_s=0.2, pool=POOL) is False


def test_pcscd_without_any_pool_reader_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcscd_mod, "pcscd_readers", lambda: [*pcscd_mod.VPCD_READERS])
    with pytest.raises(PcscdSetupError, match=r"without any of the test readers.*restart pcscd"):
        ensure_pcscd(timeout_s=0.2, pool=POOL)


def test_a_process_that_waited_for_another_starting_pcscd_does_not_start_a_second(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two pcscd started at once share out the vpcd readers' ports and neither lists them: starts take a lock,
    and a process that waited for it finds the other's pcscd instead of starting its own."""
    import fcntl
    import os
    import threading

    lock = tmp_path / "pcscd-start.lock"
    monkeypatch.setattr(pcscd_mod, "START_LOCK", lock)
    monkeypatch.setattr(pcscd_mod.shutil, "which", lambda name: "/usr/sbin/pcscd")
    monkeypatch.setattr(pcscd_mod, "_vpcd_installed", lambda: True)
    monkeypatch.setattr(pcscd_mod.os, "geteuid", lambda: 0)
    running: list[str] | None = None
    monkeypatch.setattr(pcscd_mod, "pcscd_readers", lambda: running)
    starts: list[str] = []

    def start(*_: object) -> bool:
        starts.append("started")
        return True

    monkeypatch.setattr(pcscd_mod, "_start", start)

    other = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)  # another process is starting pcscd
    fcntl.flock(other, fcntl.LOCK_EX)
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(ensure_pcscd(timeout_s=5)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and not starts  # waiting for the lock, not starting
    running = [*pcscd_mod.VPCD_READERS]  # the other's pcscd lists its readers, then its lock goes
    os.close(other)
    waiter.join(5)
    assert result == [False] and not starts
