"""What the router hands back: a finished completion, or a stream already primed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .. import _json
from ..errors import Attempt, Failure, StreamInterruptedError, UpstreamError

if TYPE_CHECKING:
    from ._stream import Chunk, UpstreamStream
    from ._transcript import Transcript

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
    skipped: tuple[str, ...] = ()     # "provider/model: code: detail" for targets not tried
    accounting: Any = field(default=None, repr=False)   # router-internal
    rate_headers: Any = field(default=None, repr=False)  # router-internal: learned later

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


class StreamDriver(Protocol):
    """The router side of a stream: told when each attempt ends, asked to continue."""

    def attempt_ended(self, stream: StreamingCompletion, upstream: UpstreamStream,
                      failure: Failure | None, *, abandoned: bool = False) -> None: ...

    async def continue_stream(self, stream: StreamingCompletion,
                              failure: Failure) -> UpstreamStream: ...


class StreamingCompletion:
    """A stream whose first content chunk has arrived; iterate to relay the rest.

    `batches()` yields lists of `(json_bytes, chunk_dict)`, one list per block that arrived
    from the upstream (the dict is None for a text chunk relayed unparsed: parse the bytes
    if you need it). When an attempt breaks after content, the router continues the
    answer on the next eligible target and the batches go on seamlessly; a break it cannot
    mend raises StreamInterruptedError (the server turns it into an in-band error event,
    never a clean `[DONE]`). Iterating the object itself yields the chunk dicts.
    """

    def __init__(self, *, provider: str, model: str, attempts: tuple[Attempt, ...],
                 upstream: UpstreamStream, driver: StreamDriver, want_usage: bool,
                 transcript: Transcript) -> None:
        self.provider = provider
        self.model = model
        self.attempts = attempts
        self.upstream: UpstreamStream | None = upstream
        self._driver = driver
        self._want_usage = want_usage
        self.transcript = transcript              # what the client has been sent
        self.usage: dict[str, Any] | None = None   # every attempt's usage, summed, at the end
        self.failure: Failure | None = None       # set if the stream broke for good
        self.completed = False
        self._done = False                        # nothing more to read upstream
        self.request_id = ""
        self.skipped: tuple[str, ...] = ()
        self.route: Any = None                    # router-internal: the request's Route
        # called once when the stream ends (completed, broken or abandoned)
        self.on_end: Callable[[StreamingCompletion], None] | None = None

    async def next_batch(self) -> list[Chunk] | None:
        """The next batch to relay, None after the last (a coroutine, not a generator: an
        async generator costs the loop's first-iteration and finalizer hooks per stream).
        `completed` is set before the last batch is returned, so a relay can send it with
        the stream's end; the call after it ends the stream's bookkeeping (`aclose`)."""
        if self._done:
            await self.aclose()
            return None
        driver = self._driver
        try:
            while True:
                upstream = self.upstream
                if upstream is None:   # closed (the client went away)
                    self._done = True
                    return None
                try:
                    batch = await upstream.next_batch()
                except UpstreamError as exc:
                    upstream.close()
                    self.upstream = None
                    driver.attempt_ended(self, upstream, exc.failure)
                    try:
                        self.upstream = await driver.continue_stream(self, exc.failure)
                    except StreamInterruptedError as final:
                        self.failure = final.failure
                        raise
                    continue
                if batch is not None:
                    return batch
                last = upstream.rest()
                upstream.close()
                self.upstream = None
                driver.attempt_ended(self, upstream, None)
                break
        except BaseException:
            self._done = True
            await self.aclose()
            raise
        if self._want_usage and self.usage:
            last.append(self._usage_chunk())
        self.completed = True
        self._done = True
        if last:
            return last
        await self.aclose()
        return None

    async def batches(self) -> AsyncIterator[list[Chunk]]:
        """`next_batch()` as an iterator; closing it early ends the stream (`aclose`)."""
        try:
            while (batch := await self.next_batch()) is not None:
                yield batch
        finally:
            await self.aclose()

    def _usage_chunk(self) -> Chunk:
        t = self.transcript
        obj = {"id": t.id, "object": "chat.completion.chunk", "created": t.created,
               "model": t.model, "choices": [], "usage": self.usage}
        return _json.dumps(obj), obj

    async def raw_chunks(self) -> AsyncIterator[bytes]:
        """Each chunk's JSON bytes, one at a time."""
        async for batch in self.batches():
            for raw, _ in batch:
                yield raw

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for batch in self.batches():
            for raw, obj in batch:
                yield obj if obj is not None else _json.loads(raw)

    async def aclose(self) -> None:
        upstream, self.upstream = self.upstream, None
        if upstream is not None:   # abandoned mid-way (the client went away)
            upstream.close()
            self._driver.attempt_ended(self, upstream, None,
                                       abandoned=not upstream.transcript.complete)
        on_end, self.on_end = self.on_end, None
        if on_end is not None:
            on_end(self)
