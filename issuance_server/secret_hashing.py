"""argon2id hashing of PINs and staff passwords, keyed with the server-side pepper, run off the event loop.

Parameters default to OWASP's minimum for argon2id (m=19 MiB, t=2, p=1): a verify costs ~19 ms of one
core, so the 2-core server can check ~100 PINs/s while a stolen database stays expensive to attack
(a 4-digit PIN space is tiny: the pepper, kept outside the database, is what protects it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from contextlib import AbstractContextManager, nullcontext

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from prometheus_client import Histogram

from issuance_server.metrics import timed
from issuance_server.settings import Settings
from issuance_server.thread_names import named_pool


class SecretHasher:
    """argon2-cffi releases the GIL, so a small thread pool gives real parallelism."""

    def __init__(
        self, settings: Settings, pepper: bytes, workers: int = 2, on_time: Histogram | None = None
    ) -> None:
        self._ph = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        self._pepper = pepper
        self._pool = named_pool(workers, "argon2")
        self._time = on_time  # konbini_argon2_seconds{op}
        self._decoy: str | None = None  # a hash nobody's password matches, for verify_or_waste

    def _keyed(self, context: str, secret: str) -> bytes:
        return hmac.new(self._pepper, f"{context}\0{secret}".encode(), hashlib.sha256).digest()

    def hash_sync(self, context: str, secret: str) -> str:
        with self._timed("hash"):
            return self._ph.hash(self._keyed(context, secret))

    def verify_sync(self, context: str, stored_hash: str, secret: str) -> bool:
        try:
            with self._timed("verify"):
                return self._ph.verify(stored_hash, self._keyed(context, secret))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _timed(self, op: str) -> AbstractContextManager[None]:
        return timed(self._time.labels(op).observe) if self._time is not None else nullcontext()

    async def hash(self, context: str, secret: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.hash_sync, context, secret)

    async def verify(self, context: str, stored_hash: str, secret: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.verify_sync, context, stored_hash, secret)

    async def verify_or_waste(self, context: str, stored_hash: str | None, secret: str) -> bool:
        """``verify``, or with no hash (an unknown or locked account) the same work on one that cannot
        match, so the time taken does not tell which."""
        if stored_hash is None:
            if self._decoy is None:
                self._decoy = await self.hash(context, secrets.token_hex(16))
            await self.verify(context, self._decoy, secret)
            return False
        return await self.verify(context, stored_hash, secret)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


PIN = "kiosk-pin"
STAFF_PASSWORD = "staff-password"  # noqa: S105  a name or label, not a secret
