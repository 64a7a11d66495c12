"""The card layer across the real PC/SC stack: pcscd + vpcd + the virtual card, read through pyscard."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from devices.card import pcsc
from devices.card import profile as p
from devices.card.errors import (
    CardBusy,
    CardIoError,
    CardProtocolError,
    CardRemoved,
    NoCard,
    NoReader,
    NotAJpkiCard,
    PinBlocked,
    PinFormatError,
    WrongPin,
)
from devices.card.jpki import JpkiCard, card_id_from_certificate
from devices.card.virtual.applet import VirtualCard
from devices.card.virtual.ca import load_ca
from devices.card.virtual.state import load_state
from devices.card.virtual.vpcd import CardHandle, run_card
from tests.devices.conftest import IDENTITY, IDENTITY_PIN
from tests.pool import lease_reader
from wire import card_identity
from wire.kiosk_api import auth_digest

pytestmark = pytest.mark.e2e


class Insert(Protocol):
    """The ``insert_card`` fixture: a card file, or a ready VirtualCard made from it, into the test reader."""

    def __call__(self, card_file: Path, card: VirtualCard | None = None) -> CardHandle: ...


PIN = "1234"


def _verify_signature(cert_der: bytes, signature: bytes, digest: bytes) -> None:
    key = x509.load_der_x509_certificate(cert_der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


def test_whole_card_session(pcscd: str, insert_card: Insert, card_file: Path) -> None:
    insert_card(card_file)
    state = load_state(card_file)
    with JpkiCard.connect(pcscd) as card:
        assert card.reader == pcscd
        cert = card.read_auth_certificate()
        assert cert == state.certificate_der
        assert card_id_from_certificate(cert) == "TEST-CARD-0001"
        assert card.read_ca_certificate() == state.ca_certificate_der
        assert card.pin_tries_left() == 3
        with pytest.raises(WrongPin) as wrong:
            card.verify_pin("0000")
        assert wrong.value.tries_left == 2 and wrong.value.code == "card_pin_wrong"
        assert "0000" not in str(wrong.value)
        card.verify_pin(PIN)
        assert card.pin_tries_left() == 3
        digest = auth_digest("kiosk-001", "session-1", "nonce-abc")
        _verify_signature(cert, card.sign_digest(digest), digest)


def test_connect_picks_the_reader_with_a_card(
    pcscd: str, insert_card: Insert, card_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with lease_reader() as empty:  # held empty: nobody else's card goes in while the test looks
        listed = pcsc.list_readers()
        assert empty.name in listed and pcscd in listed
        # Of the readers pcscd lists, this test sees only its own two (other runs' cards sit in the rest);
        # the empty one listed first, so that picking the first reader would pick the wrong one.
        monkeypatch.setattr(pcsc, "_list_readers", lambda ctx: [empty.name, pcscd])
        insert_card(card_file)
        with JpkiCard.connect() as card:
            assert card.reader == pcscd
            assert card_id_from_certificate(card.read_auth_certificate()) == "TEST-CARD-0001"


def test_sign_before_pin_and_bad_input(pcscd: str, insert_card: Insert, card_file: Path) -> None:
    insert_card(card_file)
    with JpkiCard.connect(pcscd) as card:
        with pytest.raises(CardProtocolError) as err:
            card.sign_digest(bytes(32))
        assert err.value.sw == 0x6982 and "verify the PIN" in err.value.message
        with pytest.raises(PinFormatError):
            card.verify_pin("12345")
        with pytest.raises(ValueError):
            card.sign_digest(b"short")
        assert card.pin_tries_left() == 3


def test_pin_blocked(pcscd: str, insert_card: Insert, card_file: Path) -> None:
    insert_card(card_file)
    with JpkiCard.connect(pcscd) as card:
        for left in (2, 1):
            with pytest.raises(WrongPin) as wrong:
                card.verify_pin("9999")
            assert wrong.value.tries_left == left
        with pytest.raises(PinBlocked):
            card.verify_pin("9999")
        with pytest.raises(PinBlocked):
            card.verify_pin(PIN)
        assert card.pin_tries_left() == 0


def test_no_card(pcscd: str) -> None:
    with pytest.raises(NoCard) as err:
        JpkiCard.connect(pcscd)
    assert pcscd in err.value.message and err.value.code == "no_card"
    with pytest.raises(NoCard):
        JpkiCard.connect(pcscd, timeout_s=0.3)


def test_unknown_reader(pcscd: str) -> None:
    with pytest.raises(NoReader, match="not found"):
        JpkiCard.connect("No Such Reader 00 00")


def test_connect_waits_for_the_card(pcscd: str, insert_card: Insert, card_file: Path) -> None:
    timer = threading.Timer(0.3, insert_card, args=(card_file,))
    timer.start()
    try:
        with JpkiCard.connect(pcscd, timeout_s=10) as card:
            assert card.pin_tries_left() == 3
    finally:
        timer.join()


def test_card_removed_mid_session(
    pcscd: str, insert_card: Insert, remove_card: Callable[[CardHandle], None], card_file: Path
) -> None:
    handle = insert_card(card_file)
    with JpkiCard.connect(pcscd) as card:
        card.read_auth_certificate()
        handle.stop()  # pulled out between two APDUs, before pcscd has polled the reader
        with pytest.raises(CardRemoved) as err:
            card.verify_pin(PIN)
        assert err.value.code == "card_removed"
        assert not card.is_present()
        with pytest.raises(CardRemoved, match=f"removed from reader '{pcscd}'"):  # the session stays dead
            card.pin_tries_left()
    remove_card(handle)


def test_card_removed_after_pcscd_noticed(
    pcscd: str, insert_card: Insert, remove_card: Callable[[CardHandle], None], card_file: Path
) -> None:
    handle = insert_card(card_file)
    with JpkiCard.connect(pcscd) as card:
        assert card.is_present()
        remove_card(handle)
        with pytest.raises(CardRemoved):
            card.read_auth_certificate()


def test_retry_counter_persists_across_card_restarts(
    pcscd: str, insert_card: Insert, remove_card: Callable[[CardHandle], None], card_file: Path
) -> None:
    handle = insert_card(card_file)
    with JpkiCard.connect(pcscd) as card, pytest.raises(WrongPin):
        card.verify_pin("0000")
    remove_card(handle)
    insert_card(card_file)
    with JpkiCard.connect(pcscd) as card:
        assert card.pin_tries_left() == 2
        card.verify_pin(PIN)
        assert card.pin_tries_left() == 3


def test_close_resets_the_pin_verification(pcscd: str, insert_card: Insert, card_file: Path) -> None:
    insert_card(card_file)
    with JpkiCard.connect(pcscd) as card:
        card.verify_pin(PIN)
    with JpkiCard.connect(pcscd, timeout_s=5) as card, pytest.raises(CardProtocolError) as err:  # reset first
        card.sign_digest(hashlib.sha256(b"x").digest())
    assert err.value.sw == 0x6982


def test_exclusive_session(pcscd: str, insert_card: Insert, card_file: Path) -> None:
    insert_card(card_file)
    with JpkiCard.connect(pcscd) as first:
        with pytest.raises(CardBusy):
            JpkiCard.connect(pcscd)
        with pytest.raises(CardBusy):
            JpkiCard.connect(pcscd, timeout_s=0.5)  # waited for, in vain
        first.verify_pin(PIN)


def test_a_card_another_session_frees_is_waited_for(pcscd: str, insert_card: Insert, card_file: Path) -> None:
    insert_card(card_file)
    first = JpkiCard.connect(pcscd)
    releaser = threading.Timer(0.5, first.close)  # the other program ends its session in a moment
    releaser.start()
    try:
        with JpkiCard.connect(pcscd, timeout_s=10) as second:
            assert card_id_from_certificate(second.read_auth_certificate()) == "TEST-CARD-0001"
    finally:
        releaser.join()


class _ForeignCard(VirtualCard):
    """A card without the JPKI application (a bank card, say)."""

    def process(self, raw: bytes) -> bytes:
        return b"\x6a\x82"


def test_not_a_jpki_card(
    pcscd: str, vpcd_port: int, await_reader: Callable[[bool], None], card_file: Path
) -> None:
    stop = threading.Event()
    foreign = _ForeignCard.from_file(card_file)
    thread = threading.Thread(
        target=run_card, args=(card_file, "127.0.0.1", vpcd_port, stop), kwargs={"card": foreign}
    )
    thread.start()
    try:
        await_reader(True)
        with pytest.raises(NotAJpkiCard, match="not a My Number card"):
            JpkiCard.connect(pcscd)
    finally:
        stop.set()
        thread.join()
        await_reader(False)


class _LongAnswerCard(VirtualCard):
    """A faulty card: two bytes more than asked for, to READ BINARY (``ins`` B0) or to VERIFY (20)."""

    def __init__(self, card_file: Path, ins: int) -> None:
        super().__init__(load_state(card_file), card_file)
        self.ins = ins

    def process(self, raw: bytes) -> bytes:
        resp = super().process(raw)
        return resp[:-2] + b"\xee\xee" + resp[-2:] if raw[1] == self.ins else resp


@pytest.mark.parametrize(
    ("ins", "step", "asked"),
    [(p.INS_READ_BINARY, "read_auth_certificate", 4), (p.INS_VERIFY, "pin_tries_left", 0)],
)
def test_answer_longer_than_asked_for_is_refused(
    pcscd: str, insert_card: Insert, card_file: Path, ins: int, step: str, asked: int
) -> None:
    insert_card(card_file, _LongAnswerCard(card_file, ins))
    with JpkiCard.connect(pcscd) as card, pytest.raises(CardIoError) as err:
        getattr(card, step)()
    assert err.value.code == "card_io_error"
    assert f"asked for at most {asked}" in err.value.message and "faulty card" in err.value.message


class _RecordingCard(VirtualCard):
    """A card that notes every EF the kiosk selects and the EF each VERIFY goes to."""

    def __init__(self, card_file: Path) -> None:
        super().__init__(load_state(card_file), card_file)
        self.selected: list[int] = []
        self.verified: list[int] = []

    def process(self, raw: bytes) -> bytes:
        if raw[1] == p.INS_SELECT and raw[2] == p.P1_SELECT_EF:
            self.selected.append(int.from_bytes(raw[5:7], "big"))
        if raw[1] == p.INS_VERIFY:
            self.verified.append(self.selected[-1])
        return super().process(raw)


def test_kiosk_keeps_to_the_authentication_half(pcscd: str, insert_card: Insert, card_file: Path) -> None:
    recording = _RecordingCard(card_file)
    insert_card(card_file, recording)
    with JpkiCard.connect(pcscd) as card:
        card.read_auth_certificate()
        card.read_ca_certificate()
        card.pin_tries_left()
        card.verify_pin(PIN)
        card.sign_digest(auth_digest("kiosk-001", "session-1", "nonce-abc"))
    auth_half = {p.EF_AUTH_CERT, p.EF_AUTH_CA_CERT, p.EF_AUTH_KEY, p.EF_AUTH_PIN}
    assert set(recording.selected) == auth_half  # never 0001, 0002, 001A or the signature password 001B
    assert set(recording.verified) == {p.EF_AUTH_PIN}
    state = load_state(card_file)
    assert state.signature is not None and state.signature.tries_left == p.SIGN_PASSWORD_MAX_TRIES


def test_the_desk_reads_the_cards_identity_through_pcsc(
    pcscd: str, insert_card: Insert, card_file: Path, card_ca: Path
) -> None:
    """M3: the 券面事項入力補助 application through pcscd: its own PIN, the identity the issuer signed,
    and the JPKI application usable again afterwards."""
    insert_card(card_file)
    public = load_ca(card_ca)[1].public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    with JpkiCard.connect(pcscd) as card:
        with pytest.raises(WrongPin) as wrong:
            card.read_identity(PIN, b"challenge")  # the card's JPKI PIN is not its identity PIN
        assert wrong.value.tries_left == 2
        basic_four, signed, proof = card.read_identity(IDENTITY_PIN, b"challenge")
        assert card_identity.verified_identity(basic_four, signed, public) == IDENTITY
        card_identity.check_presence(signed, b"challenge", proof)  # the card's own key signed it
        with pytest.raises(card_identity.IdentityError):
            card_identity.check_presence(signed, b"another challenge", proof)
        card.verify_pin(PIN)  # the JPKI application again
        digest = auth_digest("kiosk-001", "session-1", "nonce-abc")
        _verify_signature(card.read_auth_certificate(), card.sign_digest(digest), digest)
    identity = load_state(card_file).identity
    assert identity is not None and identity.tries_left == 3  # the right PIN restored the count
