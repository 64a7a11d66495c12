"""The server's worker threads carry their names for the operating system (top -H, /proc/<pid>/task)."""

from __future__ import annotations

import threading
from pathlib import Path

from issuance_server.thread_names import name_os_thread, named_pool


def _os_name() -> str:
    return Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip()


def _named_in_a_thread(name: str) -> str:
    """What the OS calls a new thread after it named itself ``name``."""
    seen: list[str] = []

    def work() -> None:
        assert name_os_thread(name)
        seen.append(_os_name())

    t = threading.Thread(target=work)
    t.start()
    t.join()
    return seen[0]


def test_a_thread_named_for_the_os_shows_its_name_in_proc() -> None:
    assert _named_in_a_thread("sqlite-writer") == "sqlite-writer"


def test_an_os_thread_name_is_cut_to_15_bytes() -> None:
    assert _named_in_a_thread("a-name-longer-than-fifteen") == "a-name-longer-t"


def test_a_named_pool_s_threads_carry_their_python_names() -> None:
    with named_pool(2, "render") as pool:
        names = {pool.submit(_os_name).result() for _ in range(4)}
    assert names and names <= {"render_0", "render_1"}
