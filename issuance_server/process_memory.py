"""glibc's allocator, told to keep the server's memory small: few arenas, and freed memory given back.

glibc gives each thread that allocates an arena of its own (up to 8 per core), and keeps what is freed in
them for reuse: the full sync's build (a 200 MB SQLite page cache, filled in a worker thread), the render
and argon2 threads and aiosqlite's connection threads each leave tens of MB the process holds but does not
use. :func:`limit_arenas` (at start, before threads) and :func:`release_free_memory` (after such a peak)
keep the resident set near what is in use. Both do nothing where the C library is not glibc.

:func:`cycle_collection_paused` keeps Python's cycle collector from scanning bulk data while it is built.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import threading
from collections.abc import Iterator
from typing import Final

ARENAS: Final = 2  # one for the event loop's thread, one shared by the worker threads
_M_ARENA_MAX: Final = -8  # <malloc.h>
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC: Final = _libc()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """At most ``arenas`` malloc arenas for the whole process (call before starting threads)."""
    return _LIBC is not None and bool(_LIBC.mallopt(_M_ARENA_MAX, arenas))


def keep_freed_memory(up_to: int = 256 << 20) -> bool:
    """Keep freed memory for reuse rather than give it back to the OS (up to ``up_to`` bytes), for a process
    that allocates and frees the same large amounts over and over: the page checker, whose pages each
    faulted 16 MB in afresh (measured: a tenth of its CPU). Its memory stays at its peak while it lives."""
    return (
        _LIBC is not None
        and bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, 32 << 20))
        and bool(_LIBC.mallopt(_M_TRIM_THRESHOLD, up_to))
    )


def release_free_memory() -> bool:
    """Give the pages of freed memory back to the OS (``malloc_trim``); True if any were."""
    return _LIBC is not None and bool(_LIBC.malloc_trim(0))


_pausing = 0  # code paths inside cycle_collection_paused, on any thread
_pausing_lock = threading.Lock()


@contextlib.contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """No cycle collection while the block runs (on any thread; blocks may overlap): a feed page of 10,000
    changes is tens of thousands of lists and objects, alive until applied, that each collection would scan
    again (measured: 30 % of a catch-up's time). Nothing is lost: garbage made meanwhile is collected
    after."""
    global _pausing
    with _pausing_lock:
        _pausing += 1
        gc.disable()
    try:
        yield
    finally:
        with _pausing_lock:
            _pausing -= 1
            if _pausing == 0:
                gc.enable()
