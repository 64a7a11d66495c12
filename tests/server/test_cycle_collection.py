"""The cycle collector pauses while bulk data is built (a feed page's thousands of objects) and always
resumes, also when pauses overlap on several threads or a block fails."""

from __future__ import annotations

import gc
import threading

import pytest

from issuance_server.process_memory import cycle_collection_paused


def test_the_collector_resumes_only_after_the_last_overlapping_pause() -> None:
    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def other_thread() -> None:
        with cycle_collection_paused():
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=other_thread)
    worker.start()
    assert inside.wait(5)
    with cycle_collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's pause still runs
    release.set()
    worker.join(5)
    assert gc.isenabled()


def test_the_collector_resumes_when_the_block_fails() -> None:
    with pytest.raises(ValueError), cycle_collection_paused():
        assert not gc.isenabled()
        raise ValueError("a malformed page")
    assert gc.isenabled()
