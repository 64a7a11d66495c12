"""Staff roles: what the server grants and what the desk and the commands offer to choose from."""

from __future__ import annotations

from typing import Final

ROLES: Final = ("registrar", "counter", "mynumber", "ops", "auditor", "admin")
