"""The card's identity files (wire.card_identity): made as the issuer makes them, believed only with the
issuer's signature, compared with the resident's record field by field."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from wire.card_identity import (
    CardIdentity,
    IdentityError,
    basic_four_file,
    mismatches,
    signature_file,
    verified_identity,
)

IDENTITY = CardIdentity("𠮷田　髙志", "鹿児島県鹿児島市山下町11番1号", "1985-02-03", "1")  # synthetic


@pytest.fixture(scope="module")
def issuer() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_identity_files_verify_with_the_issuers_key(issuer: rsa.RSAPrivateKey) -> None:
    basic_four = basic_four_file(IDENTITY)
    assert (
        verified_identity(
            basic_four, signature_file(basic_four, issuer, issuer.public_key()), issuer.public_key()
        )
        == IDENTITY
    )
    assert "𠮷田" not in repr(IDENTITY)  # personal data never reaches a log through repr


def test_an_identity_made_up_or_signed_by_another_key_is_refused(issuer: rsa.RSAPrivateKey) -> None:
    basic_four = basic_four_file(IDENTITY)
    signed = signature_file(basic_four, issuer, issuer.public_key())
    made_up = basic_four_file(CardIdentity("別人　太郎", IDENTITY.address, IDENTITY.birth_date, "1"))
    with pytest.raises(IdentityError, match="does not name"):
        verified_identity(made_up, signed, issuer.public_key())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(IdentityError, match="signature"):
        verified_identity(made_up, signature_file(made_up, other, other.public_key()), issuer.public_key())
    with pytest.raises(IdentityError):
        verified_identity(basic_four[:-3], signed, issuer.public_key())


def test_mismatches_name_the_fields_and_ignore_spaces() -> None:
    assert mismatches(IDENTITY, "𠮷田 髙志", "鹿児島県鹿児島市山下町 11番1号", "1985-02-03", "M") == []
    assert mismatches(IDENTITY, "吉田　高志", IDENTITY.address, "1985-02-04", "F") == [
        "name",
        "birth_date",
        "sex",
    ]
