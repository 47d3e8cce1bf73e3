"""Synchronous facade: the same Router, driven on a private event-loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from ..config import Config
from ._result import Completion
from ._router import Router

__all__ = ["SyncRouter"]

T = TypeVar("T")


class SyncRouter:
    """Blocking API for scripts: `SyncRouter(config).chat(model=..., messages=[...])`."""

    def __init__(self, config: Config, **router_kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="provider-fallback",
                                        daemon=True)
        self._thread.start()
        self._router: Router = self._call(self._make(config, router_kwargs))

    @staticmethod
    async def _make(config: Config, kwargs: dict[str, Any]) -> Router:
        router = Router(config, **kwargs)
        await router.start()   # probes, spend ledger and budget: as `async with Router`
        return router

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def router(self) -> Router:
        return self._router

    def chat(self, *, model: str, messages: Sequence[dict[str, Any]], **params: Any) -> Completion:
        return self._call(self._router.chat(model=model, messages=messages, **params))

    def embeddings(self, *, model: str, input: Any, **params: Any) -> Completion:
        return self._call(self._router.embeddings(model=model, input=input, **params))

    def chat_stream(self, *, model: str, messages: Sequence[dict[str, Any]],
                    **params: Any) -> Iterator[dict[str, Any]]:
        """Yield parsed chunks; raises StreamInterruptedError if the stream breaks mid-way."""
        stream = self._call(self._router.chat_stream(model=model, messages=messages, **params))
        it = stream.__aiter__()

        async def next_chunk() -> tuple[bool, Any]:
            try:
                return True, await it.__anext__()
            except StopAsyncIteration:
                return False, None

        try:
            while True:
                ok, chunk = self._call(next_chunk())
                if not ok:
                    return
                yield chunk
        finally:
            self._call(stream.aclose())

    def status(self) -> dict[str, Any]:
        return self._router.status()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self._router.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> SyncRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
