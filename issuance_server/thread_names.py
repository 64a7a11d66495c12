"""The server's worker threads named for the operating system, so that ``top -H``, ``ps -L`` and
``/proc/<pid>/task/*/comm`` tell them apart: argon2id, rendering, each SQLite connection's thread and the
loop's default executor (the event loop's own thread is the process's main thread, tid = pid).

Python (before 3.14) names threads only for itself; Linux keeps a thread name of at most 15 bytes.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Final

_PR_SET_NAME: Final = 15  # <linux/prctl.h>
_MAX_BYTES: Final = 15


def name_os_thread(name: str | None = None) -> bool:
    """Give the calling thread ``name`` (default: its Python name, e.g. ``render_0``) for the operating
    system; False where that cannot be done (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    text = (name or threading.current_thread().name).encode()[:_MAX_BYTES]
    return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NAME, ctypes.c_char_p(text), 0, 0, 0) == 0


def named_pool(max_workers: int | None, prefix: str) -> ThreadPoolExecutor:
    """A thread pool whose threads carry their Python names (``prefix_0``, ``prefix_1``...) for the OS too."""
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=prefix, initializer=name_os_thread)
