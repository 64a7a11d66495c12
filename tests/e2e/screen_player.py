"""The kiosk's real page, catalogues and local interface (:func:`kiosk.local_api.make_local_app`) over states
recorded from the real kiosk app: the page cannot tell the player from the app, so every screen can be
shown in every language and text size without walking a resident's flow each time."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from kiosk.catalogue import languages
from kiosk.local_api import make_local_app
from konbini_demo.processes import free_port

# What view() adds to a snapshot: rendered again by the player in the language shown.
RENDERED = ("message_text", "message_style")


class RecordedEngine:
    """As much of :class:`kiosk.engine.KioskEngine` as the local interface reads, replaying one state."""

    def __init__(self) -> None:
        self.languages = languages()
        self.language = self.languages[0]
        self.version = 0
        self.state: dict[str, Any] = {}
        self._changed: asyncio.Condition | None = None

    def snapshot(self) -> dict[str, Any]:
        return {**self.state, "version": self.version, "language": self.language}

    @property
    def message(self) -> dict[str, Any] | None:
        return self.state.get("message")

    async def wait_change(self, since: int, timeout_s: float) -> dict[str, Any]:
        assert self._changed is not None
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version > since), timeout_s)
        return self.snapshot()

    def touch(self) -> None:
        """The idle warning's Continue: the player's states keep their own countdowns."""

    async def notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()


class ScreenPlayer:
    """The local interface on a loop of its own (a thread); :meth:`show` puts a recorded state up."""

    def __init__(self) -> None:
        self.engine = RecordedEngine()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="screen-player", daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        self.engine._changed = asyncio.Condition()
        app = make_local_app(self.engine, "127.0.0.1", self.port, demo=False)  # type: ignore[arg-type]
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def show(self, state: dict[str, Any], language: str) -> int:
        """Put ``state`` up in ``language``; returns the version the page will show it as."""

        async def put() -> int:
            self.engine.state = {k: v for k, v in state.items() if k not in RENDERED}
            self.engine.language = language
            self.engine.version += 1
            await self.engine.notify()
            return self.engine.version

        return asyncio.run_coroutine_threadsafe(put(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextlib.contextmanager
def screen_player() -> Iterator[ScreenPlayer]:
    player = ScreenPlayer()
    player.start()
    try:
        yield player
    finally:
        player.stop()
