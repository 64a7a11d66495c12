"""The JPKI application of the My Number card, as APDUs over a
:class:`~devices.card.connection.CardConnection` (PC/SC by default: :mod:`devices.card.pcsc`).

``JpkiCard.connect()`` connects to a card and selects the JPKI application; ``close()`` resets the card so
that no PIN verification survives the session. Card answers are mapped to
:class:`~devices.card.errors.CardError` subclasses with a stable code.
"""

from __future__ import annotations

from typing import Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from devices.card import profile as p
from devices.card.apdu import PIN_TRIES_MASK, StatusWord, pin_tries_sw
from devices.card.connection import CardConnection
from devices.card.errors import (
    CardIoError,
    CardProtocolError,
    CertificateNeedsPin,
    NotAJpkiCard,
    PinBlocked,
    PinFormatError,
    WrongPin,
)
from devices.card.pcsc import PcscConnection
from wire import card_identity

_SIGNATURE_OP: Final = "COMPUTE SIGNATURE"


def card_id_from_certificate(cert_der: bytes) -> str:
    """The card id: the CN of the authentication certificate's subject."""
    cert = x509.load_der_x509_certificate(cert_der)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise NotAJpkiCard("the card's certificate has no common name (card id)")
    return str(names[0].value)


def _der_total_length(head: bytes) -> int:
    """Total size of a DER SEQUENCE from its first bytes (tag 30, short or 1-2 byte long length)."""
    if len(head) < 2 or head[0] != 0x30:
        raise NotAJpkiCard("the certificate file on the card does not hold a DER certificate")
    first = head[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n not in (1, 2) or len(head) < 2 + n:
        raise NotAJpkiCard("the certificate file on the card has an unsupported length header")
    return 2 + n + int.from_bytes(head[2 : 2 + n], "big")


class JpkiCard:
    """A connected JPKI card: the application's commands over one card connection."""

    def __init__(self, connection: CardConnection) -> None:
        self._connection = connection

    @property
    def reader(self) -> str:
        return self._connection.reader

    @classmethod
    def connect(
        cls,
        reader: str | None = None,
        timeout_s: float = 0.0,
        transport: type[CardConnection] = PcscConnection,
    ) -> JpkiCard:
        """Connect to the card in ``reader`` (default: the first with a card), waiting up to ``timeout_s`` for
        a card, and for a card that another program holds (or that is still being reset) to be free; then
        select the JPKI application."""
        return cls.select(transport.connect(reader, timeout_s))

    @classmethod
    def select(cls, connection: CardConnection) -> JpkiCard:
        """Select the JPKI application on a connected card; a card without it is left as it was."""
        try:
            _, sw = connection.transmit(p.select_aid(), "SELECT JPKI application")
        except BaseException:
            connection.disconnect(reset=False)
            raise
        if sw != StatusWord.OK:
            connection.disconnect(reset=False)
            raise NotAJpkiCard(
                f"the card in reader {connection.reader!r} is not a My Number card (no JPKI application, "
                f"SW {sw:04X}); insert the My Number card"
            )
        return cls(connection)

    # -- profile operations --------------------------------------------------------------------------

    def _select_ef(self, fid: int, what: str) -> None:
        _, sw = self._connection.transmit(p.select_ef(fid), f"SELECT {what}")
        if sw == StatusWord.FILE_NOT_FOUND:
            raise NotAJpkiCard(f"the card has no {what} (EF {fid:04X}); is it a My Number card?")
        if sw != StatusWord.OK:
            raise CardProtocolError(sw, f"SELECT {what}")

    def _read(self, offset: int, le: int, what: str) -> bytes:
        data, sw = self._connection.transmit(p.read_binary(offset, le), f"READ BINARY {what}")
        if sw not in (StatusWord.OK, StatusWord.END_OF_FILE) or not data:
            raise CardProtocolError(sw, f"READ BINARY {what} at offset {offset}")
        return data

    def _read_certificate(self, fid: int, what: str) -> bytes:
        self._select_ef(fid, what)
        data = bytearray(self._read(0, 4, what))
        total = _der_total_length(bytes(data))
        if total > p.MAX_CERT_SIZE:
            raise NotAJpkiCard(f"the {what} on the card claims {total} bytes, more than a certificate")
        del data[total:]
        while len(data) < total:
            data += self._read(len(data), min(p.READ_CHUNK, total - len(data)), what)
        if len(data) != total:
            raise CardIoError(f"the card sent more bytes of the {what} than its header announced")
        return bytes(data)

    def read_auth_certificate(self) -> bytes:
        """The authentication certificate (DER), EF 000A: a card shows it without a PIN; an Android phone
        only after :meth:`verify_pin` (:class:`CertificateNeedsPin` before)."""
        try:
            return self._read_certificate(p.EF_AUTH_CERT, "authentication certificate")
        except CardProtocolError as exc:
            if exc.sw == StatusWord.SECURITY_NOT_SATISFIED:
                raise CertificateNeedsPin() from None
            raise

    def read_ca_certificate(self) -> bytes:
        """The CA certificate of the authentication certificate (DER), EF 000B."""
        return self._read_certificate(p.EF_AUTH_CA_CERT, "authentication CA certificate")

    def pin_tries_left(self) -> int:
        """How many PIN attempts remain (0 = blocked); uses no attempt."""
        self._select_ef(p.EF_AUTH_PIN, "authentication PIN")
        _, sw = self._connection.transmit(p.verify_status(), "VERIFY (status)")
        if sw & 0xFFF0 == PIN_TRIES_MASK:
            return sw & 0x0F
        if sw == StatusWord.PIN_BLOCKED:
            return 0
        if sw == StatusWord.OK:  # ISO 7816-4: already verified in this session
            return p.PIN_MAX_TRIES
        raise CardProtocolError(sw, "VERIFY (status)")

    def verify_pin(self, pin: str) -> None:
        """Verify the authentication PIN; raises WrongPin(tries_left), PinBlocked or PinFormatError."""
        try:
            apdu = p.verify_pin(pin)
        except ValueError:
            raise PinFormatError() from None
        self._select_ef(p.EF_AUTH_PIN, "authentication PIN")
        _, sw = self._connection.transmit(apdu, "VERIFY PIN")
        if sw == StatusWord.OK:
            return
        if sw == StatusWord.PIN_BLOCKED or sw == pin_tries_sw(0):
            raise PinBlocked()
        if sw & 0xFFF0 == PIN_TRIES_MASK:
            raise WrongPin(sw & 0x0F)
        raise CardProtocolError(sw, "VERIFY PIN")

    def read_identity(self, pin: str, challenge: bytes) -> tuple[bytes, bytes, bytes]:
        """The card's own identity files (:mod:`wire.card_identity`: EF 0002 and its issuer-signed EF 0003)
        from its 券面事項入力補助 application, after that application's own PIN, and its key's signature
        over ``challenge`` (the server's, for this registration); raises WrongPin, PinBlocked or
        PinFormatError like :meth:`verify_pin`. The JPKI application is selected again after (its PIN
        verification is forgotten)."""
        try:
            apdu = p.verify_pin(pin)
        except ValueError:
            raise PinFormatError() from None
        _, sw = self._connection.transmit(
            p.select_aid(card_identity.AID_KENHOJO), "SELECT identity application"
        )
        if sw != StatusWord.OK:
            raise NotAJpkiCard(f"the card has no 券面事項入力補助 application (SW {sw:04X})")
        try:
            self._select_ef(card_identity.EF_IDENTITY_PIN, "identity PIN")
            _, sw = self._connection.transmit(apdu, "VERIFY identity PIN")
            if sw == StatusWord.PIN_BLOCKED or sw == pin_tries_sw(0):
                raise PinBlocked()
            if sw & 0xFFF0 == PIN_TRIES_MASK:
                raise WrongPin(sw & 0x0F)
            if sw != StatusWord.OK:
                raise CardProtocolError(sw, "VERIFY identity PIN")
            files = (
                self._read_tlv_file(card_identity.EF_BASIC_FOUR, "identity"),
                self._read_tlv_file(card_identity.EF_SIGNATURE, "identity signature"),
            )
            return (
                *files,
                self._sign_with(card_identity.EF_IDENTITY_KEY, card_identity.challenge_digest(challenge)),
            )
        finally:
            self._connection.transmit(p.select_aid(), "SELECT JPKI application")

    def _read_tlv_file(self, fid: int, what: str) -> bytes:
        """A file holding one BER-TLV with a two-byte tag, read whole."""
        self._select_ef(fid, what)
        data = bytearray(self._read(0, 5, what))
        first = data[2] if len(data) > 2 else 0xFF
        head = 3 if first < 0x80 else {0x81: 4, 0x82: 5}.get(first, 0)
        if not head or len(data) < head:
            raise CardIoError(f"the {what} on the card does not start with a TLV header")
        total = head + (first if first < 0x80 else int.from_bytes(data[3:head], "big"))
        del data[total:]
        while len(data) < total:
            data += self._read(len(data), min(p.READ_CHUNK, total - len(data)), what)
        return bytes(data)

    def sign_digest(self, sha256_digest: bytes) -> bytes:
        """Sign a SHA-256 digest (PKCS#1 v1.5 over its DigestInfo) with the authentication key."""
        return self._sign_with(p.EF_AUTH_KEY, sha256_digest)

    def _sign_with(self, key_ef: int, sha256_digest: bytes) -> bytes:
        digest_info = p.sha256_digest_info(sha256_digest)
        self._select_ef(key_ef, "signing key")
        signature, sw = self._connection.transmit(p.compute_signature(digest_info), _SIGNATURE_OP)
        if sw == StatusWord.SECURITY_NOT_SATISFIED:
            raise CardProtocolError(sw, f"{_SIGNATURE_OP} (verify the PIN first)")
        if sw != StatusWord.OK or not signature:
            raise CardProtocolError(sw, _SIGNATURE_OP)
        return signature

    def is_present(self) -> bool:
        """True while the card is still in the reader (cheap; for session watchdogs)."""
        return self._connection.is_present()

    def close(self) -> None:
        """Disconnect and reset the card, so its PIN verification does not outlive the session."""
        self._connection.disconnect(reset=True)

    def __enter__(self) -> JpkiCard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
