"""One attempt's streamed answer: read in blocks, each event inspected once, relayed whole.

Each event is parsed once (orjson) and looked at only as deep as fall-over, continuation
and accounting need: an error object or `finish_reason: "error"` (a failure, classified
like an error status), content (the first token ends the time-to-first-token timer), tool
calls (their arguments must be complete JSON when the choice finishes), each choice's
finish, and usage. Events that need no rewriting are relayed as the bytes that arrived; a
continuation's events are rewritten (the first attempt's id, created and model; see
`_splice`). An event that is not JSON is skipped and counted. The stream is complete only
when every expected choice reached its finish_reason.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from .. import _json
from ..config import Target
from ..errors import Failure, UpstreamError, classify_exception, classify_response, spec
from ..errors._wire import WireError
from ..providers import DONE, EventReader, StreamDecoder, Watchdog, WatchdogExpired
from ..providers._answer import Response
from ._splice import Continuation, Diverged
from ._transcript import Transcript

__all__ = ["Chunk", "UpstreamStream"]

Chunk = tuple[bytes, dict[str, Any] | None]   # the event's JSON as relayed, and parsed
_REASONING = ("reasoning_content", "reasoning")


class UpstreamStream:
    """Iterate `batches()` for what to relay; `prime()` first reads until there is
    content for the client (a failure before it raises, so the router can fall over)."""

    def __init__(self, resp: Response, target: Target, *, watchdog: Watchdog,
                 transcript: Transcript, continuation: Continuation | None,
                 clock: Any, started: float, decoder: StreamDecoder | None = None) -> None:
        self.resp = resp
        self.target = target
        self.watchdog = watchdog
        self.transcript = transcript
        self.continuation = continuation
        self._clock = clock
        self.started = started
        self.usage: dict[str, Any] | None = None   # the upstream's own count, if it sent one
        self.content = False        # the first content chunk arrived
        self.ttft: float | None = None
        self._chars = 0             # characters this attempt generated (estimate basis)
        self.invalid = 0            # events skipped because they were not JSON
        self.ended = False          # [DONE], EOF, or every choice finished and the rest failed
        self.failure: UpstreamError | None = None
        self._ready: list[Chunk] = []
        self._relayable = False     # _ready holds something beyond role-only chunks
        # the bytes before and after the text of a text-only chunk (see _shape_of)
        self._shape: tuple[bytes, bytes] | None = None
        self._events: EventReader | _Decoded = EventReader(resp.content, watchdog)
        if decoder is not None:   # another API's events (Anthropic Messages) as chat chunks
            self._events = _Decoded(self._events, decoder)
        # the router's bookkeeping for this attempt
        self.admission: Any = None
        self.reservation: Any = None
        self.slot = -1              # its entry in the request's attempt list
        self.note = ""

    @property
    def chars(self) -> int:
        """Characters of text, reasoning and tool arguments this attempt generated."""
        return self._chars

    # -- reading ----------------------------------------------------------------------
    async def prime(self) -> None:
        """Read until content is ready for the client; raise UpstreamError before it."""
        while not self._relayable:
            await self._pull()
            if self.failure is not None:
                raise self.failure
            if self.ended and not self._relayable:
                # the stream ended with nothing to show: a cut, or an empty [DONE]
                raise self.failure or self._fail("stream_cut", "upstream closed the stream "
                                                 "before any content")

    async def next_batch(self) -> list[Chunk] | None:
        """What to relay next, a batch per block that arrived; None once the stream ended
        cleanly. Raises UpstreamError(stream_*) after returning what came before the
        breakage. The block that completed the stream is not returned but left for
        `rest()`, so the caller can send it with its end."""
        while True:
            if self._ready:
                if self.ended and self.failure is None:
                    return None
                ready, self._ready = self._ready, []
                return ready
            if self.failure is not None:
                raise self.failure
            if self.ended:
                return None
            await self._pull()

    async def batches(self) -> AsyncIterator[list[Chunk]]:
        """`next_batch()` as an iterator."""
        while (batch := await self.next_batch()) is not None:
            yield batch

    def rest(self) -> list[Chunk]:
        """After `batches()` ended cleanly: the last block's chunks, not yet relayed."""
        ready, self._ready = self._ready, []
        return ready

    async def _pull(self) -> None:
        try:
            events = await self._events.next()
        except WatchdogExpired as exc:
            self._broken(self._timer_failure(exc))
            return
        except (WireError, OSError) as exc:
            t = self.target
            self._broken(UpstreamError(classify_exception(exc, provider=t.provider.name,
                                                          model=t.model, phase="stream")))
            return
        if events is None:
            self._end(eof=True)
            return
        self._take(events)

    def _end(self, *, eof: bool) -> None:
        self.ended = True
        t = self.transcript
        if not t.complete and self.failure is None:
            if eof:
                self.failure = self._fail("stream_cut", "upstream closed the stream before it "
                                          "finished")
            else:
                missing = ", ".join(str(i) for i in t.unfinished())
                self.failure = self._fail("stream_unfinished", f"upstream sent [DONE] before "
                                          f"choice {missing} finished")

    def _broken(self, failure: UpstreamError) -> None:
        self.ended = True
        if not self.transcript.complete:   # after every finish_reason, a break loses nothing
            self.failure = failure

    # -- inspecting -------------------------------------------------------------------
    def _take(self, events: list[bytes]) -> None:
        cont = self.continuation
        ready = self._ready
        # after the first content of a one-choice stream, a chunk that only carries text
        # (the usual one) is relayed as it arrived after one look at its dict
        fast = cont is None and self.transcript.n == 1
        text0 = self.transcript.choice(0).text if fast else None
        tpl = self._shape if fast and self.content else None
        i, n = 0, len(events)
        while i < n:
            data = events[i]
            if tpl is not None and data.startswith(tpl[0]) and data.endswith(tpl[1]):
                # a run of chunks shaped like the last text-only one: taken in one loop
                i = self._texts(events, i, tpl, text0)   # type: ignore[arg-type]
                if i == n:
                    return
                data = events[i]
            # not a text chunk of that shape: the general way
            i += 1
            if data == DONE:
                self._end(eof=False)
                return
            try:
                obj = _json.loads(data)
            except _json.JSONDecodeError:
                self.invalid += 1
                continue
            if fast:
                text = _only_text(obj)
                if text is not None:   # the role chunk, then the text chunks
                    if self.transcript.id is None:
                        self.transcript.identity(obj)
                    if text:
                        if not self.content:
                            self._first_content()
                            self._relayable = True
                        text0.append(text)   # type: ignore[union-attr]
                        self._chars += len(text)
                        if tpl is None:
                            # the first text chunk gives the shape the next ones are taken by
                            tpl = self._shape = _shape_of(data)
                    ready.append((data, obj))
                    continue
            if type(obj) is not dict:
                self.invalid += 1
                continue
            if obj.get("error"):
                self.failure = self._in_band(obj)
                return
            usage = obj.get("usage")
            if usage is None and "x_groq" in obj:
                groq = obj["x_groq"]
                usage = groq.get("usage") if type(groq) is dict else None
            if type(usage) is dict:
                self.usage = usage
            choices = obj.get("choices")
            if not choices:
                continue   # usage-only or keep-alive: the client's usage chunk is made at the end
            if cont is None:
                if self.transcript.id is None:
                    self.transcript.identity(obj)
                if self._walk(obj):
                    return
                ready.append((data, obj))
                if self.content:
                    self._relayable = True
                continue
            self._chars += _generated(obj)
            try:
                outs = cont.feed(obj)
            except Diverged as exc:
                self.failure = self._fail("continuation_diverged", f"the restarted answer "
                                          f"does not match what the client already has ({exc})")
                return
            if cont.seen_content and not self.content:
                self._first_content()
            t = self.transcript
            for out in outs:
                out["id"], out["created"], out["model"] = t.id, t.created, t.model
                if self._walk(out, count=False):
                    return
                ready.append((_json.dumps(out), out))
                self._relayable = True

    def _texts(self, events: list[bytes], i: int, tpl: tuple[bytes, bytes],
               text0: list[str]) -> int:
        """Take events[i:] while they are `tpl`'s bytes around a JSON string's contents:
        relayed as they arrived, only the text decoded. The index of the first one that
        is not."""
        head, tail = tpl
        start, cut = len(head), len(tail)
        special = _SPECIAL.search
        ready = self._ready
        n = len(events)
        mids = []
        for data in events[i:] if i else events:   # the run of events shaped like the template
            if not (data.startswith(head) and data.endswith(tail)):
                break
            mids.append(data[start:len(data) - cut])
        j = i + len(mids)
        if j - i > 1:
            run = events[i:j]
            joined = b"".join(mids)
            if special(joined) is None and joined.isascii():
                # the usual run: plain ASCII text, no escapes, taken in one step (each
                # text is valid alone: ASCII has no character split across two events)
                if joined:
                    text0.append(joined.decode("ascii"))
                    self._chars += len(joined)
                ready.extend([(data, None) for data in run])
                return j
        chars = 0
        while i < n:   # one at a time: escapes, or text beyond ASCII, in the run
            data = events[i]
            if not (data.startswith(head) and data.endswith(tail)):
                break
            mid = data[start:len(data) - cut]
            if special(mid) is None:   # no quote, backslash or control byte: plain text
                try:
                    text = mid.decode()
                except UnicodeDecodeError:
                    break
            else:
                found = _text_between(data, start, len(data) - cut)   # escapes
                if found is None:
                    break
                text = found
            if text:
                text0.append(text)
                chars += len(text)
            ready.append((data, None))
            i += 1
        self._chars += chars
        return i

    def _walk(self, obj: dict[str, Any], *, count: bool = True) -> bool:
        """Record what `obj` tells the client; True if it is a failure (then not relayed)."""
        t = self.transcript
        for choice in obj["choices"]:
            if type(choice) is not dict:
                continue
            c = t.choice(choice.get("index", 0))
            delta = choice.get("delta")
            if type(delta) is dict and delta:
                content = delta.get("content")
                if content and type(content) is str:
                    c.text.append(content)
                    if count:
                        self._chars += len(content)
                    if not self.content:
                        self._first_content()
                calls = delta.get("tool_calls")
                if calls and type(calls) is list:
                    for call in calls:
                        if type(call) is dict:
                            t.tool_delta(c, call)
                            if count:
                                fn = call.get("function")
                                if type(fn) is dict:
                                    self._chars += len(fn.get("arguments") or "")
                    if not self.content:
                        self._first_content()
                for key in _REASONING:
                    r = delta.get(key)
                    if r and type(r) is str:
                        if count:
                            self._chars += len(r)
                        if not self.content:
                            self._first_content()
            finish = choice.get("finish_reason")
            if finish:
                if finish == "error":
                    self.failure = self._in_band(obj)
                    return True
                if c.tools and not all(tool.valid_json() for tool in c.tools.values()):
                    self.failure = self._fail("stream_invalid_tool_call", "the tool call's "
                                              "arguments are not complete, valid JSON")
                    return True
                c.finish = finish
                if not self.content:
                    self._first_content()
        return False

    def _first_content(self) -> None:
        self.content = True
        self.ttft = self._clock() - self.started
        self.watchdog.content()

    # -- failures ---------------------------------------------------------------------
    def _fail(self, code: str, message: str) -> UpstreamError:
        t = self.target
        return UpstreamError(Failure(spec(code), provider=t.provider.name, model=t.model,
                                     message=message))

    def _in_band(self, obj: dict[str, Any]) -> UpstreamError:
        t = self.target
        if not obj.get("error"):
            return self._fail("stream_error_event", "upstream ended the stream with "
                              "finish_reason \"error\"")
        failure = classify_response(502, self.resp.headers, obj, provider=t.provider.name,
                                    model=t.model)
        return UpstreamError(failure)

    def _timer_failure(self, exc: WatchdogExpired) -> UpstreamError:
        policy = self.target.policy
        if exc.kind == "ttft":
            return self._fail("timeout_first_token", f"no first token within "
                              f"{policy.ttft_timeout:g}s (ttft_timeout)")
        return self._fail("stream_stalled", f"no stream data for {policy.stall_timeout:g}s "
                          "(stall_timeout)")

    def close(self) -> None:
        self.watchdog.cancel()
        self.resp.release()


class _Decoded:
    """Each block of another API's events as the chat chunks they say (`[DONE]` at the
    API's own end event); an event that is not JSON is passed on, to be counted invalid."""

    __slots__ = ("_decoder", "_events")

    def __init__(self, events: EventReader, decoder: StreamDecoder) -> None:
        self._events = events
        self._decoder = decoder

    async def next(self) -> list[bytes] | None:
        block = await self._events.next()
        if block is None:
            return None
        decoder = self._decoder
        out: list[bytes] = []
        for data in block:
            try:
                chunks = decoder.feed(data)
            except _json.JSONDecodeError:
                out.append(data)
                continue
            out.extend(_json.dumps(c) for c in chunks)
            if decoder.done:
                out.append(DONE)
                break
        return out


def _only_text(obj: Any) -> str | None:
    """The text of a chunk that carries nothing but text for choice 0 ("" for none), or None
    if it carries more (an error, usage, a tool call, reasoning, a finish_reason, ...)."""
    try:
        choices = obj["choices"]
        if len(choices) != 1 or "error" in obj or "x_groq" in obj \
                or obj.get("usage") is not None:   # OpenAI sends "usage": null when asked
            return None
        choice = choices[0]
        if choice.get("finish_reason") is not None or choice.get("index", 0) != 0:
            return None
        delta = choice["delta"]
        content = delta.get("content")
        if len(delta) > (content is not None) + ("role" in delta):
            return None   # tool calls, reasoning, refusal, ...
    except (KeyError, TypeError, IndexError, AttributeError):
        return None
    if content is None:
        return ""
    return content if type(content) is str else None


_CONTENT = b'"content":"'
_SPECIAL = re.compile(rb'["\\\x00-\x1f]')


def _shape_of(data: bytes) -> tuple[bytes, bytes] | None:
    """A text-only chunk's bytes before and after its text (the JSON string's contents),
    or None if they cannot be told apart with certainty (no or several `"content":"`).

    Providers send every text chunk of a stream with the same id, created and model, so
    the next chunks are usually these bytes around another text: checked with
    `startswith`/`endswith`, such a chunk is a text-only chunk without being parsed.
    """
    if data.count(_CONTENT) != 1:
        return None
    start = data.index(_CONTENT) + len(_CONTENT)
    end = start
    while True:   # the string's closing quote: the first one not escaped
        end = data.find(b'"', end)
        if end < 0:
            return None
        slashes = 0
        while data[end - 1 - slashes] == 0x5C:   # backslash
            slashes += 1
        if not slashes & 1:
            break
        end += 1
    return data[:start], data[end:]


def _text_between(data: bytes, start: int, end: int) -> str | None:
    """The text of a JSON string's contents `data[start:end]`; None if it is not one."""
    mid = data[start:end]
    if _SPECIAL.search(mid) is None:   # no quote, backslash or control byte: plain text
        try:
            return mid.decode()
        except UnicodeDecodeError:
            return None
    try:
        text = _json.loads(b'"' + mid + b'"')   # escapes: orjson decodes the string alone
    except _json.JSONDecodeError:
        return None
    return text if type(text) is str else None


def _generated(obj: dict[str, Any]) -> int:
    n = 0
    for choice in obj.get("choices") or ():
        delta = choice.get("delta") if type(choice) is dict else None
        if type(delta) is not dict:
            continue
        for key in ("content", *_REASONING):
            v = delta.get(key)
            if type(v) is str:
                n += len(v)
        for call in delta.get("tool_calls") or ():
            fn = call.get("function") if type(call) is dict else None
            if type(fn) is dict and type(fn.get("arguments")) is str:
                n += len(fn["arguments"])
    return n
