"""Shared fixtures for the card layer: a demo card CA, card files, pcscd + vpcd + a virtual card.

End-to-end tests use a reader leased from the test pool for the whole session (tests/pool.py), so that
parallel workers, another test run and a demo's card are left alone. pcscd is started if needed (as root)
and left running afterwards, since other test runs may share it.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the package may not be installed in the venv
    sys.path.insert(0, str(ROOT))

from smartcard import scard  # noqa: E402

from devices.card.pcscd import PcscdSetupError  # noqa: E402
from devices.card.virtual.applet import VirtualCard  # noqa: E402
from devices.card.virtual.ca import init_ca, issue_card  # noqa: E402
from devices.card.virtual.vpcd import CardHandle, start_card_thread  # noqa: E402
from tests.pool import PoolError, Reader, lease_reader  # noqa: E402
from wire.card_identity import CardIdentity  # noqa: E402

PIN = "1234"
SIGN_PASSWORD = "KONBINI2026"
IDENTITY_PIN = "5678"
IDENTITY = CardIdentity("試験　花子", "鹿児島県鹿児島市山下町11番1号", "1990-04-01", "2")  # synthetic


def unavailable(reason: str) -> NoReturn:
    """Skip for a missing tool on a developer's machine; fail under CI (``CI`` set), where install.sh must
    have installed it."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI is set: scripts/install.sh should have installed it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def card_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo card CA folder (created once per test session)."""
    ca_dir = tmp_path_factory.mktemp("card-ca")
    init_ca(ca_dir)
    return ca_dir


@pytest.fixture(scope="session")
def _card_template(card_ca: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("card-template") / "card.json"
    issue_card(
        card_ca, out, PIN, card_id="TEST-CARD-0001", sign_password=SIGN_PASSWORD, identity=IDENTITY,
        identity_pin=IDENTITY_PIN,
    )  # fmt: skip
    return out


@pytest.fixture
def card_file(_card_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of a personalised card (PIN 1234, 3 tries; signature password KONBINI2026, 5 tries;
    IDENTITY behind PIN 5678) that a test may use up."""
    out = tmp_path / "card.json"
    shutil.copyfile(_card_template, out)
    out.chmod(0o600)
    return out


@pytest.fixture
def card(card_file: Path) -> VirtualCard:
    """The virtual card of ``card_file``, to drive with APDUs directly (no reader)."""
    return VirtualCard.from_file(card_file)


def reader_state(reader: str) -> int:
    """pcscd's SCARD_STATE_* bits for ``reader``."""
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hr == scard.SCARD_S_SUCCESS
    try:
        hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        assert hr == scard.SCARD_S_SUCCESS
        return int(states[0][1])
    finally:
        scard.SCardReleaseContext(ctx)


def wait_reader(reader: str, present: bool, timeout_s: float = 5.0) -> None:
    """Wait until pcscd reports a card present (or absent) in ``reader``."""
    deadline = time.monotonic() + timeout_s
    while bool(reader_state(reader) & scard.SCARD_STATE_PRESENT) != present:
        if time.monotonic() > deadline:
            raise AssertionError(f"reader {reader!r} still {'empty' if present else 'has a card'}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def test_reader() -> Iterator[Reader]:
    """pcscd running with the vpcd readers and a reader of the pool leased (empty) for this module (a
    worker holds it only while it runs card tests: the pool is shared by every run on the machine)."""
    try:
        with lease_reader() as reader:
            yield reader
    except (PcscdSetupError, PoolError) as exc:
        unavailable(f"pcscd/vpcd not available: {exc}")


@pytest.fixture(scope="module")
def pcscd(test_reader: Reader) -> str:
    """The name of the session's test reader."""
    return test_reader.name


@pytest.fixture
def vpcd_port(test_reader: Reader) -> int:
    """The vpcd port of the test reader."""
    return test_reader.port


@pytest.fixture
def await_reader(pcscd: str) -> Callable[[bool], None]:
    """Wait until the test reader has (True) or has no (False) card."""
    return lambda present: wait_reader(pcscd, present)


@pytest.fixture
def insert_card(pcscd: str, vpcd_port: int) -> Iterator[Callable[..., CardHandle]]:
    """Insert a card file (or ``card``, a VirtualCard made from it) into the test reader; every card still in
    is pulled out at teardown."""
    handles: list[CardHandle] = []

    def insert(card_file: Path, card: VirtualCard | None = None) -> CardHandle:
        handle = start_card_thread(card_file, vpcd_port, card=card)
        handles.append(handle)
        assert handle.wait_inserted(5.0), "vpcd did not accept the virtual card"
        wait_reader(pcscd, present=True)
        return handle

    yield insert
    for handle in handles:
        handle.stop()
    wait_reader(pcscd, present=False)


@pytest.fixture
def remove_card(pcscd: str) -> Callable[[CardHandle], None]:
    """Pull a card out and wait until pcscd has noticed."""

    def remove(handle: CardHandle) -> None:
        handle.stop()
        wait_reader(pcscd, present=False)

    return remove
