"""What the core asks of the registry link before it issues (implemented in ``recovery/``)."""

from __future__ import annotations

from typing import Protocol


class Freshness(Protocol):
    async def confirm(self, versions: dict[str, int | None], whole: bool = False) -> bool:
        """``versions``: {"type/key": version in the replica, or None if absent} of every record the
        certificate will print. ``whole``: what is printed also depends on records not listed (a
        household's members: someone born or moved in upstream), so the replica must have caught up with
        the registry as a whole. True: confirmed. False: the replica was behind and has caught up (read
        again). Raises ApiError when issuing must not go ahead."""
        ...

    def data_as_of(self) -> str:
        """ISO time up to which the replica is known to match the registry."""
        ...
