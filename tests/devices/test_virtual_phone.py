"""The virtual phone (スマホ用電子証明書) over the JPKI protocol, in-process: the Android form shows its
certificate only after its PIN, the iPhone form has no PIN and signs at once; both name their form in a
certificate policy from the smartphone CA."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from devices.card.errors import CertificateNeedsPin, NotAJpkiCard
from devices.card.jpki import JpkiCard
from devices.card.virtual.applet import VirtualCard
from devices.card.virtual.ca import init_ca, issue_card
from devices.card.virtual.state import load_state
from tests.devices.test_card_connection import AppletConnection
from wire.credentials import DEMO_POLICY_OIDS, Form, phone_form_of

PIN = "2468"


@pytest.fixture(scope="module")
def phone_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca = tmp_path_factory.mktemp("phone-ca")
    init_ca(ca, phone=True)
    return ca


def phone(ca: Path, tmp: Path, form: Form) -> tuple[VirtualCard, bytes]:
    issue_card(ca, tmp / f"{form}.json", PIN, form=form)
    return VirtualCard.from_file(tmp / f"{form}.json"), load_state(tmp / f"{form}.json").certificate_der


def verifies(cert_der: bytes, digest: bytes, signature: bytes) -> None:
    key = x509.load_der_x509_certificate(cert_der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))


def test_an_android_phone_shows_its_certificate_only_after_its_pin(phone_ca: Path, tmp_path: Path) -> None:
    card, cert = phone(phone_ca, tmp_path, Form.ANDROID)
    with JpkiCard.select(AppletConnection(card)) as jpki:
        with pytest.raises(CertificateNeedsPin):
            jpki.read_auth_certificate()
        assert jpki.pin_tries_left() == 3
        jpki.verify_pin(PIN)
        assert jpki.read_auth_certificate() == cert
        digest = hashlib.sha256(b"session").digest()
        verifies(cert, digest, jpki.sign_digest(digest))
    assert phone_form_of(x509.load_der_x509_certificate(cert), DEMO_POLICY_OIDS) is Form.ANDROID


def test_an_iphone_signs_without_a_pin_and_has_none(phone_ca: Path, tmp_path: Path) -> None:
    card, cert = phone(phone_ca, tmp_path, Form.IPHONE)
    with JpkiCard.select(AppletConnection(card)) as jpki:
        assert jpki.read_auth_certificate() == cert
        digest = hashlib.sha256(b"session").digest()
        verifies(cert, digest, jpki.sign_digest(digest))  # no VERIFY: the phone checked its owner (Face ID)
        with pytest.raises(NotAJpkiCard):  # no PIN EF to ask
            jpki.pin_tries_left()
    parsed = x509.load_der_x509_certificate(cert)
    assert phone_form_of(parsed, DEMO_POLICY_OIDS) is Form.IPHONE
    assert "smartphone CA" in parsed.issuer.rfc4514_string()


def test_a_card_names_no_phone_form(card_file: Path) -> None:
    cert = x509.load_der_x509_certificate(load_state(card_file).certificate_der)
    assert phone_form_of(cert, DEMO_POLICY_OIDS) is None


def test_a_phone_carries_no_identity_application(phone_ca: Path, tmp_path: Path) -> None:
    from wire.card_identity import CardIdentity

    with pytest.raises(ValueError, match="identity"):
        issue_card(
            phone_ca, tmp_path / "p.json", PIN, form=Form.ANDROID,
            identity=CardIdentity("試験　花子", "鹿児島市", "1990-04-01", "2"),
        )  # fmt: skip
