"""argon2id PIN verify cost at the configured parameters, and its parallelism in the server's thread pool."""

from __future__ import annotations

import asyncio
import statistics
import time

from issuance_server.secret_hashing import PIN, SecretHasher
from issuance_server.settings import load_settings


def main() -> None:
    settings = load_settings(env={})
    hasher = SecretHasher(settings, b"p" * 32)
    stored = hasher.hash_sync(PIN, "1234")
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        assert hasher.verify_sync(PIN, stored, "1234")
        times.append((time.perf_counter() - t0) * 1000)
    print(
        f"argon2id m={settings.argon2_memory_kib} KiB t={settings.argon2_time_cost} p={settings.argon2_parallelism}:"
        f" verify median {statistics.median(times):.1f} ms (n={len(times)})"
    )

    async def burst(n: int) -> float:
        t0 = time.perf_counter()
        await asyncio.gather(*(hasher.verify(PIN, stored, "1234") for _ in range(n)))
        return time.perf_counter() - t0

    elapsed = asyncio.run(burst(60))
    print(
        f"60 verifies off the event loop in the 2-thread pool: {elapsed:.2f} s = {60 / elapsed:.0f} verifies/s"
    )
    hasher.close()


if __name__ == "__main__":
    main()
