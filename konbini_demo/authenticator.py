"""A staff member's authenticator app, for the demos and tests: TOTP codes from the seed they enrolled,
never two codes of the same time step (the server accepts each code once)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyotp

from issuance_server.staff.second_factor import DRIFT_STEPS, STEP_S


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
        """The code of the next step not used yet (waiting when the steps the server accepts are used)."""
        step = max(int(time.time() // STEP_S), self.last_step + 1)
        while step > int(time.time() // STEP_S) + DRIFT_STEPS:
            time.sleep(0.5)
        self.last_step = step
        return self.totp.generate_otp(step)
