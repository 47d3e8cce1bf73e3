"""Simulated providers on a background event-loop thread, for synchronous code."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from ._server import SimProvider

__all__ = ["SimThread", "run_in_thread"]


class SimThread:
    """Runs providers on their own loop; `call(coro)` runs a coroutine there (e.g. close_listener)."""

    def __init__(self, *providers: SimProvider) -> None:
        self.providers = providers
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sim", daemon=True)

    def start(self) -> SimThread:
        self._thread.start()
        for p in self.providers:
            self.call(p.start())
        return self

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        for p in self.providers:
            self.call(p.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def __enter__(self) -> SimThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_thread(*providers: SimProvider) -> SimThread:
    return SimThread(*providers).start()
