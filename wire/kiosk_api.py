"""The kiosk wire protocol: plain data shared by the kiosk and the issuance server (no server code).

Paths are under ``/api/kiosk/v1``. A kiosk authenticates every request with the headers
``X-Kiosk-Id`` and ``Authorization: Bearer <kiosk token>``. Errors are JSON
``{"error": {"code": <one of ErrorCode>, "message": "...", ...details}}`` with a 4xx status.

Codes, not sentences: refusals and service states travel as ``{"code", "params"}`` and each kiosk renders
them in the resident's language. Every reason that must not be told at a store terminal (支援措置 above
all) arrives as the one code :data:`ASK_AT_CITY_HALL`.

Order of a session: open -> authenticate (card + PIN) -> menu -> quote (the fee; nothing issued) -> the
store's device takes the money -> issue (quote id + payment reference; a retry gets the same answer)
-> fetch each PDF -> print -> print report (a failed print is voided and refunded) -> end (whatever was
paid and not printed is refunded; the answer lists every payment with what was refunded).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Final

API_PREFIX: Final = "/api/kiosk/v1"
ASK_AT_CITY_HALL: Final = "ask_at_city_hall"
AUTH_CONTEXT: Final = b"konbini-kiosk-auth/1"


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    BAD_FIELD = "bad_field"
    BODY_TOO_LARGE = "body_too_large"
    KIOSK_UNAUTHORIZED = "kiosk_unauthorized"
    KIOSK_MISMATCH = "kiosk_mismatch"
    SESSION_UNKNOWN = "session_unknown"
    TOO_MANY_SESSIONS = "too_many_sessions"
    SESSION_RATE_LIMITED = "session_rate_limited"
    SESSION_EXPIRED = "session_expired"
    SESSION_STATE = "session_state"
    NONCE_USED = "nonce_used"
    NONCE_EXPIRED = "nonce_expired"
    NONCE_MISMATCH = "nonce_mismatch"
    CERT_INVALID = "card_certificate_invalid"
    CERT_UNTRUSTED = "card_certificate_untrusted"
    CERT_EXPIRED = "card_certificate_expired"
    CARD_REVOKED = "card_revoked"
    REVOCATION_UNKNOWN = "card_revocation_unknown"
    SIGNATURE_INVALID = "card_signature_invalid"
    CARD_NOT_REGISTERED = "card_not_registered"
    REGISTRATION_LOCKED = "registration_locked"
    REGISTRATION_SUSPENDED = "registration_suspended"
    PIN_WRONG = "pin_wrong"
    NOT_AUTHENTICATED = "not_authenticated"
    KIND_UNKNOWN = "kind_unknown"
    REFUSED = "refused"
    ISSUANCE_UNKNOWN = "issuance_unknown"
    SERVICE_CLOSED = "service_closed"
    NOT_FOUND = "not_found"
    QUOTE_UNKNOWN = "quote_unknown"
    PAYMENT_MISMATCH = "payment_mismatch"
    ISSUE_IN_PROGRESS = "issue_in_progress"
    REPLICA_BEHIND = "replica_behind"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    AUDIT_HOLD = "audit_trail_broken"
    SERVICE_UNAVAILABLE = "service_unavailable"  # the database cannot be reached: try again shortly
    STORAGE_FULL = "storage_full"  # the server's disk is full: nothing was changed; try again later


class Mode(StrEnum):
    """The server's mode: following the registry, serving from the replica alone, or closed for work."""

    NORMAL = "normal"
    RECOVERY = "recovery"  # standalone read-only recovery mode: the registry link is down
    MAINTENANCE = "maintenance"


class Channel(StrEnum):
    """Where a certificate is issued: at a store's kiosk or at the city hall's counter."""

    KIOSK = "kiosk"
    COUNTER = "counter"


class CertificateKind(StrEnum):
    JUMINHYO = "juminhyo"  # 住民票の写し
    INKAN = "inkan"  # 印鑑登録証明書
    TAX_INCOME = "tax_income"  # 所得額証明書
    TAX_STATUS = "tax_status"  # 課税額（非課税）証明書
    TAX_INCOME_ASSESSMENT = "tax_income_assessment"  # 所得額・課税額証明書
    TAX_PAYMENT = "tax_payment"  # 市・県民税納税証明書


# Kagoshima City's names of the kinds, as the kiosk's Japanese catalogue (kiosk/messages/ja.po) has them.
KIND_NAMES_JA: Final = {
    CertificateKind.JUMINHYO: "住民票の写し",
    CertificateKind.INKAN: "印鑑登録証明書",
    CertificateKind.TAX_INCOME: "所得額証明書",
    CertificateKind.TAX_STATUS: "課税額（非課税）証明書",
    CertificateKind.TAX_INCOME_ASSESSMENT: "所得額・課税額証明書",
    CertificateKind.TAX_PAYMENT: "市・県民税納税証明書",
}


TAX_KINDS: Final = frozenset(
    {
        CertificateKind.TAX_INCOME,
        CertificateKind.TAX_STATUS,
        CertificateKind.TAX_INCOME_ASSESSMENT,
        CertificateKind.TAX_PAYMENT,
    }
)

# 住民票の写し options a resident may ask for (what the city's policy allows is a setting).
JUMINHYO_OPTIONS: Final = ("householder", "honseki", "kojin_bango", "zairyu_card_no")
JUMINHYO_SCOPES: Final = ("self", "household", "members")
MAX_COPIES: Final = 10  # copies of one certificate in one request
# A kiosk closes a connection idle this long itself, before the server's idle limit (the server's setting
# header_timeout_s, which must be longer) can close it under a request just sent on it (a lost answer).
KIOSK_KEEPALIVE_S: Final = 5.0
# The languages residents are served in, in the order a language screen lists them (BCP 47-like codes;
# "easy-ja" is やさしい日本語). Catalogues: kiosk/messages/<code>.po and templates/verify/<code>.po.
LANGUAGES: Final = ("ja", "easy-ja", "en", "zh-Hans", "zh-Hant", "ko", "vi", "pt", "tl", "id", "ne")
JUMINHYO_LAYOUTS: Final = ("setai", "kojin")  # 世帯連記式, 個人票


def auth_message(kiosk_id: str, session_id: str, nonce: str) -> bytes:
    """The bytes the card signs: binds the session's nonce to this kiosk and session."""
    return b"|".join([AUTH_CONTEXT, kiosk_id.encode(), session_id.encode(), nonce.encode()])


def auth_digest(kiosk_id: str, session_id: str, nonce: str) -> bytes:
    """SHA-256 of :func:`auth_message`; the card signs this digest in a DigestInfo (PKCS#1 v1.5)."""
    return hashlib.sha256(auth_message(kiosk_id, session_id, nonce)).digest()


def link_digest(kiosk_id: str, session_id: str) -> bytes:
    """What a phone signs (as a SHA-256 digest) to be linked in a kiosk session signed in with the card: bound
    to this kiosk and session (a session id is random and used once)."""
    return hashlib.sha256(b"|".join([b"konbini-link-phone", kiosk_id.encode(), session_id.encode()])).digest()
