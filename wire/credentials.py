"""The forms of a resident's credential (the My Number card, or its user-authentication certificate carried in
a smartphone: スマホ用電子証明書) and how a certificate tells them apart.

The server and the kiosk tell a phone from a card by its certificate, never by the reader (a card is read
contactlessly at store terminals too, so the ATR says nothing): a phone's certificate is issued by the
smartphone CA (the server checks the issuer and its signature) and names its form in a certificate policy.

J-LIS does not publish the smartphone CAs' policy OIDs in a form we could check here; the demo's
smartphone CA uses two OIDs under the private-enterprise number IANA keeps for documentation (RFC 5612,
32473), and a city sets the real ones (``phone_android_policy``, ``phone_iphone_policy``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from cryptography import x509


class Form(StrEnum):
    CARD = "card"
    ANDROID = "android"  # the phone's secure element speaks JPKI with its own PIN, like a card
    IPHONE = "iphone"  # the phone verified its owner (Face ID) before it signs: no PIN at the terminal


PHONE_FORMS: Final = (Form.ANDROID, Form.IPHONE)


class PinPolicy(StrEnum):
    """Whether the registered PIN is asked at the kiosk for a form (the card's is always ``required``)."""

    REQUIRED = "required"
    ON_DEVICE = "on_device"  # the phone verified its owner before it would sign


DEMO_POLICY_OIDS: Final[Mapping[Form, str]] = {
    Form.ANDROID: "1.3.6.1.4.1.32473.34.1",
    Form.IPHONE: "1.3.6.1.4.1.32473.34.2",
}


def policy_oids(certificate: x509.Certificate) -> frozenset[str]:
    """The certificate-policy OIDs the certificate names (none: empty)."""
    try:
        policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(p.policy_identifier.dotted_string for p in policies)


def phone_form_of(certificate: x509.Certificate, oids: Mapping[Form, str]) -> Form | None:
    """The phone form whose policy OID (``oids``) the certificate names; None when it names none of them."""
    named = policy_oids(certificate)
    found = [form for form, oid in oids.items() if oid in named]
    return found[0] if len(found) == 1 else None
