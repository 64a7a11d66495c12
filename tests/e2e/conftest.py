"""The end-to-end tests' shared stack: one stack of real processes per test session (per worker under
xdist), for every module whose tests do not change what others rely on; each test makes the data it needs
(a registered card, a kiosk, a staff member). Modules that break things (kill the registry, restore a
backup, switch modes, fuzz every route) start their own with :func:`tests.e2e.stacks.running_stack`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from konbini_demo.cups import CupsServer
from konbini_demo.resident_stack import private_cups
from konbini_demo.stack import Stack
from tests.e2e.stacks import running_stack

PUBLIC_SITE = "https://city.example.jp"  # the address the certificates' QR codes point to
SHARED_SETTINGS = {"KONBINI_PUBLIC_BASE_URL": PUBLIC_SITE}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The shared stack: 600 synthetic residents, a reader of its own, the demo clerk and kiosk ``kiosk-001``."""
    with running_stack(
        tmp_path_factory.mktemp("shared"), residents=600, server_settings=SHARED_SETTINGS, cards=True
    ) as s:
        yield s


@pytest.fixture(scope="session")
def cups(stack: Stack) -> Iterator[CupsServer]:
    """A private cupsd for the shared stack's kiosk apps (a PDF printer and failing queues)."""
    with private_cups(stack, "konbini") as server:
        yield server


@pytest.fixture(autouse=True)
def _apps_stop_with_their_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A kiosk or desk app that a test starts watches the stack's reader and takes the card it sees: it stops
    with its test, so that the next test (of any module sharing the stack) finds the reader to itself."""
    stack: Stack | None = request.getfixturevalue("stack") if "stack" in request.fixturenames else None
    yield  # (asked for before the test: a stack of the test's own scope is stopped after this)
    if stack is not None:
        for name in [n for n in stack.services if n == "kiosk_app" or n.startswith("desk-")]:
            stack.services.pop(name).stop()
