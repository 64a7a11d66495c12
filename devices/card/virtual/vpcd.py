"""The virtual JPKI card plugged into pcscd through the vpcd driver (Debian ``vsmartcard-vpcd``).

The card is a TCP *client* of vpcd (127.0.0.1:35963 is reader ``Virtual PCD 00 00``, 35964 is
``Virtual PCD 00 01``). Both directions frame a message as a 2-byte big-endian length and the bytes.
From vpcd, a 1-byte message is a control code, anything longer is a command APDU. vpcd polls the card with
"send the ATR" about every 0.4 s; closing the socket is pulling the card out.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

from devices.card.virtual.applet import VirtualCard

__all__ = ["VPCD_PORTS", "CardHandle", "run_card", "start_card_thread"]

log = logging.getLogger(__name__)

VPCD_PORTS: Final[dict[str, int]] = {"Virtual PCD 00 00": 35963, "Virtual PCD 00 01": 35964}
CTRL_POWER_OFF: Final = 0
CTRL_POWER_ON: Final = 1
CTRL_RESET: Final = 2
CTRL_ATR: Final = 4
_POLL_S: Final = 0.05  # how often a blocked receive checks the stop flag
_NOT_POLLED_WARN_S: Final = 3.0
_QUICKACK: Final[int | None] = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _Closed(Exception):
    """vpcd closed the connection, or the card was told to stop."""


class _Link:
    """One TCP connection to vpcd, read with a short timeout so that ``stop`` is honoured."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop
        sock.settimeout(_POLL_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _quick_ack(self) -> None:
        # vpcd writes the length and the APDU in two send() calls with Nagle on: its second write waits
        # for our ACK of the first, which Linux delays by ~40 ms. Ask for immediate ACKs (re-armed each
        # time, the kernel clears the flag).
        if _QUICKACK is not None:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)

    def recv_exact(self, n: int, idle: Callable[[], None] | None = None) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            if self.stop.is_set():
                raise _Closed
            self._quick_ack()
            try:
                chunk = self.sock.recv(n - len(buf))
            except TimeoutError:
                if idle is not None:
                    idle()
                continue
            except OSError as exc:
                raise _Closed from exc
            if not chunk:
                raise _Closed
            buf += chunk
        return bytes(buf)

    def recv_message(self, idle: Callable[[], None] | None = None) -> bytes:
        size = int.from_bytes(self.recv_exact(2, idle), "big")
        return self.recv_exact(size) if size else b""

    def send_message(self, payload: bytes) -> None:
        try:
            self.sock.sendall(len(payload).to_bytes(2, "big") + payload)
        except OSError as exc:
            raise _Closed from exc


def _serve(link: _Link, card: VirtualCard, port: int, on_inserted: Callable[[], None] | None) -> None:
    """Answer vpcd until it disconnects or ``stop`` is set."""
    inserted = False
    waited = 0.0

    def idle() -> None:
        nonlocal waited
        if inserted:
            return
        waited += _POLL_S
        if abs(waited - _NOT_POLLED_WARN_S) < _POLL_S / 2:
            log.warning(
                "card %s: connected to vpcd port %d but pcscd has not polled it for %.0f s; "
                "is another card already inserted in this reader?",
                card.card_id,
                port,
                _NOT_POLLED_WARN_S,
            )

    while True:
        msg = link.recv_message(idle)
        if not inserted:
            inserted = True
            log.debug("card %s inserted in vpcd port %d", card.card_id, port)
            if on_inserted is not None:
                on_inserted()
        if len(msg) == 1:
            code = msg[0]
            if code == CTRL_ATR:
                link.send_message(card.atr)
            elif code in (CTRL_POWER_OFF, CTRL_POWER_ON, CTRL_RESET):
                card.reset()
            else:
                log.warning("card %s: unknown vpcd control code %d ignored", card.card_id, code)
        elif msg:
            link.send_message(card.process(msg))


def run_card(
    card_file: Path,
    host: str = "127.0.0.1",
    port: int = 35963,
    stop: threading.Event | None = None,
    on_inserted: Callable[[], None] | None = None,
    *,
    card: VirtualCard | None = None,
    sock_holder: list[socket.socket] | None = None,
) -> None:
    """Insert the card in vpcd's reader at ``host:port`` and answer it until ``stop`` is set.

    Retries with a short backoff while vpcd is not listening (pcscd not started) and reconnects when vpcd
    drops the connection (pcscd restarted). ``on_inserted`` is called on the first message of each
    connection, i.e. once pcscd actually sees the card.
    """
    card = card if card is not None else VirtualCard.from_file(card_file)
    stop = stop if stop is not None else threading.Event()
    backoff = 0.1
    warned = False
    while not stop.is_set():
        try:
            sock = socket.create_connection((host, port), timeout=1.0)
        except OSError as exc:
            if not warned:
                log.warning(
                    "card %s: vpcd is not listening on %s:%d (%s); is pcscd running with vsmartcard-vpcd? "
                    "retrying",
                    card.card_id,
                    host,
                    port,
                    exc.strerror or exc,
                )
                warned = True
            stop.wait(backoff)
            backoff = min(backoff * 2, 1.0)
            continue
        backoff, warned = 0.1, False
        if sock_holder is not None:
            sock_holder[:] = [sock]
        try:
            _serve(_Link(sock, stop), card, port, on_inserted)
        except _Closed:
            pass
        finally:
            sock.close()
            card.power_off()
        if not stop.is_set():
            log.info("card %s: vpcd closed the connection; reconnecting", card.card_id)
            stop.wait(backoff)


class CardHandle:
    """A virtual card running in a background thread; ``stop()`` pulls it out of the reader."""

    def __init__(
        self, card_file: Path, port: int, host: str = "127.0.0.1", card: VirtualCard | None = None
    ) -> None:
        self.card = card if card is not None else VirtualCard.from_file(card_file)
        self.port = port
        self._stop = threading.Event()
        self._inserted = threading.Event()
        self._socks: list[socket.socket] = []
        self._thread = threading.Thread(
            target=run_card,
            args=(card_file, host, port, self._stop, self._inserted.set),
            kwargs={"card": self.card, "sock_holder": self._socks},
            name=f"virtual-card-{port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def card_id(self) -> str:
        return self.card.card_id

    def wait_inserted(self, timeout_s: float = 5.0) -> bool:
        """True once vpcd has polled the card (pcscd will report it present shortly after)."""
        return self._inserted.wait(timeout_s)

    def stop(self) -> None:
        """Remove the card: close the connection at once so pcscd sees it gone, then end the thread."""
        self._stop.set()
        for sock in self._socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5.0)

    def __enter__(self) -> CardHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_card_thread(
    card_file: Path, port: int = 35963, host: str = "127.0.0.1", card: VirtualCard | None = None
) -> CardHandle:
    """Start a virtual card in a thread, inserted in the vpcd reader on ``port`` (``card``: an already made
    card for ``card_file``, e.g. a faulty one in a test)."""
    return CardHandle(card_file, port, host, card)
