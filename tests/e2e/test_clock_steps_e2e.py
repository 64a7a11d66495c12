"""The wall clock stepped forward and back in the middle of sessions, under libfaketime (the monotonic clock
left alone: ``FAKETIME_DONT_FAKE_MONOTONIC=1``, or the test would prove nothing), for the server and the
kiosk app at once as for a machine whose clock is set: no session ends early, no nonce or idle limit
misfires, each certificate is printed once and paid once. The server's expiries count on its steady clock
(wire/clock.py: steady_time) and the kiosk's on the monotonic one; the certificates' issue time follows the
wall clock, which shows that the step reached the server."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from konbini_demo.kiosk_app_client import KioskAppClient
from konbini_demo.processes import free_port
from konbini_demo.stack import Stack
from tests.e2e.stacks import registered_card, running_stack
from tests.e2e.test_kiosk_app_e2e import PIN, issuance, server_db, to_menu

pytestmark = pytest.mark.e2e
STEP = timedelta(hours=1)  # beyond every expiry the server keeps: session idle (300 s), nonce, sweep
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clock") / "faketime"
    path.write_text("+0\n")
    return path


def faked(clock_file: Path) -> dict[str, str]:
    if not LIBFAKETIME:
        pytest.fail("libfaketime is not installed (Debian package faketime; make install adds it)")
    return {
        "LD_PRELOAD": LIBFAKETIME[0],
        "FAKETIME_TIMESTAMP_FILE": str(clock_file),
        "FAKETIME_NO_CACHE": "1",  # the file is read at every call (a cache would expire on the faked clock)
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }


def step_to(clock_file: Path, offset: timedelta) -> None:
    """Set the faked wall clock to the real one plus ``offset``: a step, seen at the processes' next call."""
    part = clock_file.with_suffix(".part")
    part.write_text(f"{int(offset.total_seconds()):+d}\n")
    part.replace(clock_file)  # whole: a process never reads half an offset


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, clock_file: Path) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("clock-steps")
    with running_stack(root, residents=100, server_settings=faked(clock_file), cards=True) as s:
        yield s


def issued_at(stack: Stack, serial: str) -> datetime:
    with server_db(stack) as conn:
        (at,) = conn.execute("SELECT issued_at FROM issuances WHERE serial = ?", (serial,)).fetchone()
    return datetime.fromisoformat(str(at).replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("before", "after"), [(timedelta(0), STEP), (STEP, timedelta(0))], ids=["forward", "back"]
)
def test_a_clock_step_mid_session_costs_the_resident_nothing(
    stack: Stack, clock_file: Path, tmp_path: Path, before: timedelta, after: timedelta
) -> None:
    registered_card(stack, PIN, "clock-resident")  # at the real time: the clerk's TOTP follows it
    step_to(clock_file, before)
    url = stack.start_kiosk_app(
        free_port(), "--spool-dir", str(tmp_path / "printed"), "--data-dir", str(tmp_path / "terminal"),
        env=faked(clock_file),
    )  # fmt: skip
    app = KioskAppClient(url)
    try:
        to_menu(app)  # authenticated: the server's session and the nonce it spent were made before the step
        step_to(clock_file, after)
        assert app.state()["idle_s_left"] > 30  # the kiosk's idle limit did not jump with the clock
        app.act("select", {"kind": "inkan"})
        app.act("options", {})
        assert app.wait_step("confirm", "options", "take_card")["step"] == "confirm"
        app.act("pay")
        state = app.wait_step("ready", "take_card", "done")
        assert state["step"] == "ready", state["message"]
        serial = state["certificates"][0]["serial"]
        app.act("print")
        state = app.wait_step("take_card", "done", timeout_s=60)
        assert state["message"]["code"] == "printed", state["message"]
        row = issuance(stack, serial)
        assert (row["status"], row["refunded_yen"]) == ("printed", 0)
        assert app.ledger()["taken_yen"] == row["total_yen"] and app.ledger()["refunded_yen"] == 0
        skew = issued_at(stack, serial) - (datetime.now(UTC) + after)
        assert abs(skew) < timedelta(minutes=2), skew  # the server's wall clock had stepped
        assert len(list((tmp_path / "printed").glob(f"certificate-{serial}*.pdf"))) == 1
    finally:
        stack.stop_kiosk_app()
        step_to(clock_file, timedelta(0))
