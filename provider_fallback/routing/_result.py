"""What the router hands back: a finished completion, or a stream already primed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .. import _json
from ..errors import Attempt, Failure, StreamInterruptedError, UpstreamError

__all__ = ["Completion", "StreamingCompletion"]


@dataclass(slots=True)
class Completion:
    """A non-streaming answer. `raw` is the upstream body as received (relayed untouched)."""

    raw: bytes
    provider: str
    model: str
    attempts: tuple[Attempt, ...]
    _body: dict[str, Any] | None = None
    request_id: str = ""
    skipped: tuple[str, ...] = ()     # "provider/model: why" for targets not tried
    accounting: Any = field(default=None, repr=False)   # (target, reservation), router-internal

    @property
    def body(self) -> dict[str, Any]:
        if self._body is None:
            self._body = _json.loads(self.raw)
        return self._body

    @property
    def text(self) -> str | None:
        """Content of the first choice, if this is a chat completion."""
        try:
            return self.body["choices"][0]["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            return None

    @property
    def usage(self) -> dict[str, Any] | None:
        u = self.body.get("usage")
        return u if isinstance(u, dict) else None


class StreamingCompletion:
    """A stream whose first content chunk has arrived; iterate to relay the rest.

    `raw_chunks()` yields each chunk's JSON bytes; after content has been sent a failure
    raises StreamInterruptedError (the server turns it into an in-band error event,
    never a clean `[DONE]`). Iterating the object itself yields parsed dicts.
    """

    def __init__(self, *, provider: str, model: str, attempts: tuple[Attempt, ...],
                 buffered: list[bytes], rest: AsyncIterator[bytes] | None,
                 on_failure: Callable[[Failure], None], close: Callable[[], Awaitable[None]]) -> None:
        self.provider = provider
        self.model = model
        self.attempts = attempts
        self._buffered = buffered
        self._rest = rest
        self._on_failure = on_failure
        self._close = close
        self.usage: dict[str, Any] | None = None   # from a chunk carrying usage, if any
        self.failure: Failure | None = None       # set if the stream broke after content
        # called once when the stream ends (completed, broken or abandoned)
        self.on_end: Callable[[StreamingCompletion], None] | None = None
        self.completed = False
        self.request_id = ""
        self.skipped: tuple[str, ...] = ()
        self.accounting: Any = None   # (target, reservation), router-internal

    async def raw_chunks(self) -> AsyncIterator[bytes]:
        try:
            for chunk in self._buffered:
                if b'"usage"' in chunk:
                    self._take_usage(chunk)
                yield chunk
            self._buffered = []
            if self._rest is not None:
                try:
                    async for chunk in self._rest:
                        if b'"usage"' in chunk:   # cheap test before parsing
                            self._take_usage(chunk)
                        yield chunk
                except UpstreamError as exc:
                    self.failure = exc.failure
                    self._on_failure(exc.failure)
                    raise StreamInterruptedError(exc.failure) from None
            self.completed = True
        finally:
            await self.aclose()

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for chunk in self.raw_chunks():
            yield _json.loads(chunk)

    def _take_usage(self, chunk: bytes) -> None:
        try:
            body = _json.loads(chunk)
        except _json.JSONDecodeError:
            return
        if not isinstance(body, dict):
            return
        usage = body.get("usage")
        groq = body.get("x_groq")
        if not isinstance(usage, dict) and isinstance(groq, dict):
            usage = groq.get("usage")   # Groq puts it here
        if isinstance(usage, dict):
            self.usage = usage

    async def aclose(self) -> None:
        rest, self._rest = self._rest, None
        if rest is not None and hasattr(rest, "aclose"):
            await rest.aclose()
        await self._close()
        on_end, self.on_end = self.on_end, None
        if on_end is not None:
            on_end(self)
