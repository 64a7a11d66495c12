"""A staff member's authenticator app, for the demos and tests: TOTP codes from the seed they enrolled,
never two codes of the same time step (the server accepts each code once)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyotp

from issuance_server.staff.second_factor import DRIFT_STEPS, STEP_S

FRESH_S = 10.0  # a code of the step before is handed out only while this long of the current step remains


class Authenticator:
    def __init__(self, seed: str) -> None:
        self.totp = pyotp.TOTP(seed, interval=STEP_S)
        self.last_step = 0

    @classmethod
    def from_enrolment(cls, printed: str) -> Authenticator:
        """From what ``konbini-clerk totp-enrol`` printed (the key a person would type into the app)."""
        found = re.search(r"type the key: ([A-Z2-7]+)", printed)
        if not found:
            raise ValueError(f"no key in the enrolment output: {printed[-300:]!r}")
        return cls(found[1])

    def save(self, path: Path) -> None:
        path.write_text(self.totp.secret)
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> Authenticator:
        return cls(path.read_text().strip())

    def code(self) -> str:
        """The code of the earliest step the server still accepts and this device has not used (waiting when
        the steps it accepts are used). The server accepts the step before the current one too (drift): that
        one is taken while at least ``FRESH_S`` of the current step remain, so that it is still accepted when
        it arrives; three logins in a step then need no wait, where the current step alone gave two."""
        now = time.time()
        current = int(now // STEP_S)
        earliest = current - DRIFT_STEPS if now - current * STEP_S < STEP_S - FRESH_S else current
        step = max(earliest, self.last_step + 1)
        while step > int(time.time() // STEP_S) + DRIFT_STEPS:
            time.sleep(0.5)
        self.last_step = step
        return self.totp.generate_otp(step)
