"""A node's identity: its name (configured, or host:port) and an incarnation new at every start."""

from __future__ import annotations

import secrets
import socket
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NodeIdentity:
    name: str
    incarnation: str = field(default_factory=lambda: secrets.token_hex(6))
    started_at: float = field(default_factory=time.time)

    @classmethod
    def of(cls, configured: str, port: int) -> NodeIdentity:
        """The node named in the settings, else ``host:port``."""
        return cls(configured or f"{socket.gethostname()}:{port}")
