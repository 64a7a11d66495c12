"""The stack of real processes with the demo resident's card registered and in the reader, and a private
CUPS server: shared by the kiosk app and touchscreen end-to-end tests and their benches."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

from devices.card.pcscd import ensure_pcscd, stop_pcscd_if_started
from konbini_demo.cups import CupsServer
from konbini_demo.processes import free_port
from konbini_demo.stack import Stack
from registry_sim.generator import DEMO_ATENA_NO


@contextlib.contextmanager
def resident_stack(
    root: Path,
    pin: str,
    *,
    vpcd_port: int = 35964,
    residents: int = 600,
    server_settings: dict[str, str] | None = None,
) -> Iterator[tuple[Stack, Path]]:
    """(the running stack, the resident's card file); everything is stopped on exit."""
    stack = Stack(root, residents=residents, vpcd_port=vpcd_port, server_settings=server_settings)
    try:
        stack.start()
        card = stack.personalise_card("resident", pin)
        stack.insert_card(card)
        stack.register(DEMO_ATENA_NO, pin)
        yield stack, card
    finally:
        stack.stop()


@contextlib.contextmanager
def private_cups(stack: Stack, name: str) -> Iterator[CupsServer]:
    """A private cupsd whose PDF printer writes under the stack's folder."""
    server = CupsServer(stack.root / "printed", stack.logs, name=name)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def kiosk_app_stack(prefix: str, pin: str, cups_name: str) -> Iterator[tuple[Stack, Path, str]]:
    """For the benches: pcscd (started if needed), the resident stack, a private CUPS server and the kiosk
    app printing on its PDF queue; yields (stack, card file, the kiosk app's URL)."""
    started_pcscd = ensure_pcscd()
    try:
        with (
            resident_stack(Path(tempfile.mkdtemp(prefix=prefix)), pin) as (stack, card),
            private_cups(stack, cups_name) as cups,
        ):
            url = stack.start_kiosk_app(
                free_port(), "--printer", cups.queue("pdf"), "--cups-server", cups.socket
            )
            yield stack, card, url
    finally:
        if started_pcscd:
            stop_pcscd_if_started()


def print_figure(name: str, values_ms: list[float]) -> None:
    """``name: median X ms, p95 Y ms (n=N)``."""
    p95 = sorted(values_ms)[max(0, round(0.95 * len(values_ms)) - 1)]
    print(f"{name}: median {statistics.median(values_ms):.0f} ms, p95 {p95:.0f} ms (n={len(values_ms)})")
