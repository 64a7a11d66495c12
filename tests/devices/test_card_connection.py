"""The JPKI protocol over the connection seam without PC/SC: the virtual card's applet as the transport."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Self

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from devices.card.apdu import StatusWord
from devices.card.errors import NotAJpkiCard, WrongPin
from devices.card.jpki import JpkiCard
from devices.card.virtual.applet import VirtualCard
from devices.card.virtual.state import load_state

PIN = "1234"


class AppletConnection:
    """A :class:`~devices.card.connection.CardConnection` that hands each APDU to a virtual card in-process."""

    card: VirtualCard | None = None  # the card ``connect`` finds (set by the test)

    def __init__(self, card: VirtualCard) -> None:
        self.reader = "in-process"
        self._card: VirtualCard | None = card
        self.reset_on_close: bool | None = None

    @classmethod
    def connect(cls, reader: str | None = None, timeout_s: float = 0.0) -> Self:
        assert cls.card is not None
        return cls(cls.card)

    def transmit(self, apdu: bytes, operation: str) -> tuple[bytes, int]:
        assert self._card is not None, f"{operation} after disconnect"
        answer = self._card.process(apdu)
        return answer[:-2], int.from_bytes(answer[-2:], "big")

    def is_present(self) -> bool:
        return self._card is not None

    def disconnect(self, reset: bool = True) -> None:
        self._card, self.reset_on_close = None, reset


def test_the_protocol_runs_over_any_connection(card: VirtualCard, card_file: Path) -> None:
    state = load_state(card_file)
    connection = AppletConnection(card)
    with JpkiCard.select(connection) as jpki:
        cert = jpki.read_auth_certificate()
        assert cert == state.certificate_der
        assert jpki.read_ca_certificate() == state.ca_certificate_der
        with pytest.raises(WrongPin):
            jpki.verify_pin("0000")
        jpki.verify_pin(PIN)
        assert jpki.pin_tries_left() == 3 and jpki.is_present()
        digest = hashlib.sha256(b"challenge").digest()
        key = x509.load_der_x509_certificate(cert).public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(jpki.sign_digest(digest), digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    assert connection.reset_on_close is True and not jpki.is_present()


def test_connect_takes_the_transport(card: VirtualCard, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AppletConnection, "card", card)
    with JpkiCard.connect(transport=AppletConnection) as jpki:
        assert jpki.reader == "in-process"
        assert jpki.pin_tries_left() == 3


class NoJpkiConnection(AppletConnection):
    def transmit(self, apdu: bytes, operation: str) -> tuple[bytes, int]:
        return b"", StatusWord.FILE_NOT_FOUND


def test_a_card_without_the_application_is_left_as_it_was(card: VirtualCard) -> None:
    connection = NoJpkiConnection(card)
    with pytest.raises(NotAJpkiCard, match="not a My Number card"):
        JpkiCard.select(connection)
    assert connection.reset_on_close is False
