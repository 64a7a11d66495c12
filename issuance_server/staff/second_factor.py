"""Staff second factor: TOTP (RFC 6238, by pyotp) with each code accepted once, and one-time recovery codes
(``staff_recovery_codes`` and the ``totp_*`` columns of ``staff``, through :mod:`issuance_server.staff.store`).

Seeds are sealed with ``secrets/totp-key`` (AES-GCM, the staff id as associated data), so a copy of the
database alone yields no second factor; recovery codes are kept as HMACs under the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time

import pyotp
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from issuance_server.staff import store
from issuance_server.storage.engine import Tx
from wire.clock import utc_now_iso

STEP_S = 30
DRIFT_STEPS = 1  # a code of the step before or after is accepted too (clocks drift, people type slowly)
RECOVERY_CODES = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper without doubt


def new_seed() -> str:
    return pyotp.random_base32()  # 32 base32 characters, 160 bits


def seal(key: bytes, staff_id: str, seed: str) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, seed.encode(), staff_id.encode())).decode()


def unseal(key: bytes, staff_id: str, sealed: str) -> str:
    raw = base64.b64decode(sealed)
    return AESGCM(key).decrypt(raw[:12], raw[12:], staff_id.encode()).decode()


def otpauth_uri(seed: str, staff_id: str, issuer: str) -> str:
    """What the enrolment QR carries (authenticator apps read it)."""
    return pyotp.TOTP(seed, interval=STEP_S).provisioning_uri(name=staff_id, issuer_name=issuer)


def matching_step(seed: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code ``code`` is (within the drift allowed), or None."""
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(seed, interval=STEP_S)
    current = int((time.time() if now is None else now) // STEP_S)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def use_code(tx: Tx, staff_id: str, step: int | None) -> bool:
    """Whether a code of time step ``step`` (:func:`matching_step`; None: no valid code) is not used
    before; marks its step used."""
    return step is not None and store.use_totp_step(tx, staff_id, step)


def _code_hash(key: bytes, staff_id: str, code: str) -> str:
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return hmac.new(key, f"{staff_id}:{normal}".encode(), hashlib.sha256).hexdigest()


def new_recovery_codes() -> list[str]:
    """Ten codes of 10 characters (about 50 bits each), written ``xxxxx-xxxxx``."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def enrol(tx: Tx, key: bytes, staff_id: str, seed: str, step: int) -> list[str]:
    """Make ``seed`` the staff member's second factor (its confirming code's step used) and replace their
    recovery codes; returns the new codes, shown once."""
    store.set_totp(tx, staff_id, seal(key, staff_id, seed), step)
    store.delete_recovery_codes(tx, staff_id)
    codes = new_recovery_codes()
    store.insert_recovery_codes(
        tx, staff_id, [_code_hash(key, staff_id, code) for code in codes], utc_now_iso()
    )
    return codes


def use_recovery_code(tx: Tx, key: bytes, staff_id: str, code: str) -> int | None:
    """Spend a recovery code; the number of codes left, or None when it is not an unused code of theirs."""
    if not store.spend_recovery_code(tx, staff_id, _code_hash(key, staff_id, code), utc_now_iso()):
        return None
    return store.recovery_codes_left(tx, staff_id)


def reset(tx: Tx, staff_id: str) -> None:
    """Forget the staff member's second factor and recovery codes (they enrol again at their next login)."""
    store.forget_totp(tx, staff_id)
    store.delete_recovery_codes(tx, staff_id)
