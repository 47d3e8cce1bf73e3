"""One attempt against one target: the request it sends and the answer it accepts.

A non-streaming answer is accepted only if it is a usable answer for its endpoint (a chat
completion with a `choices[0].message`, embeddings with `data`): an empty or garbage 200 is
`malformed_response`, a failure like any other. A stream is returned primed: its first
content has arrived, so every failure before it falls over invisibly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _json
from .._loop import running_loop
from ..config import Target
from ..errors import Failure, UpstreamError, classify_exception, classify_response, spec
from ..errors._wire import WireError
from ..providers import OPENAI, Dialect, UpstreamClient, Watchdog, dialect_for
from ..providers._answer import Response
from ..providers._client import POOL_WAIT_SHARE
from ._accounting import Accounting
from ._gate import PoolGates
from ._result import Completion
from ._route import Route
from ._splice import Continuation
from ._stream import UpstreamStream
from ._transcript import Transcript

__all__ = ["CHAT_PATH", "EMBEDDINGS_PATH", "Attempter", "Learned"]

CHAT_PATH = "/chat/completions"
EMBEDDINGS_PATH = "/embeddings"
_LEARNED_MAX = 10_000


class Learned:
    """What targets turned out not to take, learned from their 400s (bounded)."""

    def __init__(self) -> None:
        self.no_prefill: set[str] = set()
        self.no_stream_usage: set[str] = set()

    def forbid(self, book: set[str], target: Target) -> None:
        if len(book) < _LEARNED_MAX:
            book.add(target.key)

    def strategy(self, target: Target) -> str:
        """How `target` continues a broken stream: prefill, restart or off."""
        cap = getattr(target, "continuation", "prefill") or "prefill"
        if cap == "prefill" and target.key in self.no_prefill:
            return "restart"
        return cap

    def stream_usage(self, target: Target) -> bool:
        return bool(getattr(target, "stream_usage", True)) and target.key not in self.no_stream_usage


def wants_usage(body: dict[str, Any]) -> bool:
    """The client asked for the usage chunk (`stream_options.include_usage`)."""
    opts = body.get("stream_options")
    return isinstance(opts, dict) and opts.get("include_usage") is True


class Attempter:
    def __init__(self, client: UpstreamClient, accounting: Accounting,
                 clock: Callable[[], float], learned: Learned) -> None:
        self._client = client
        self._acct = accounting
        self._clock = clock
        self.learned = learned
        self._gates = PoolGates()   # the wait for a pooled connection (see _gate.py)

    def payload(self, route: Route, target: Target, strategy: str | None) -> tuple[bytes, bool]:
        """The request body for `target`, in its API's dialect; and whether it asks for
        stream usage on its own."""
        body = route.body
        dialect = dialect_for(target.provider)
        if dialect is not OPENAI:
            changes = {"model": target.model}
            if strategy == "prefill" and route.resume is not None:
                changes["messages"] = _prefilled(body["messages"], route.resume.transcript)
            # Messages streams always carry usage: nothing to ask for
            return dialect.encode({**body, **changes}, route.origin), False
        changes: dict[str, Any] = {"model": target.model}
        injected = False
        if route.stream:
            opts = body.get("stream_options")
            if self.learned.stream_usage(target):
                if not wants_usage(body):
                    changes["stream_options"] = {**(opts if isinstance(opts, dict) else {}),
                                                 "include_usage": True}
                    injected = True
            elif opts is not None:
                changes["stream_options"] = None
        if strategy == "prefill" and route.resume is not None:
            changes["messages"] = _prefilled(body["messages"], route.resume.transcript)
        out = {**body, **changes}
        if out.get("stream_options", 0) is None:
            del out["stream_options"]
        return _json.dumps_kept(out), injected

    async def send(self, route: Route, target: Target, payload: bytes,
                   reservation: Any, continuation: Continuation | None,
                   transcript: Transcript | None) -> Completion | UpstreamStream:
        policy = target.policy
        started = self._clock()
        budget = max(0.001, min(policy.timeout, route.deadline - started))
        connect = min(policy.connect_timeout, budget)
        name, model = target.provider.name, target.model
        dialect = dialect_for(target.provider)
        path, headers = route.path, None
        if dialect is not OPENAI:
            path = dialect.path(route.path)
            origin = route.origin
            if origin is not None and origin.headers:   # the client's anthropic-version/-beta
                headers = dialect.headers(target.provider, route.stream, origin.headers)
        if not route.stream:
            # the whole exchange within `budget`: the pool's wait is bounded by the connect
            # timeout (<= budget), the rest by a deadline timer on the upstream connection
            deadline = running_loop().time() + budget
            try:
                slot = self._gates.take(target) or await self._gates.wait(
                    target, connect * POOL_WAIT_SHARE, connect)
                try:
                    resp = await self._client.open(target, path, payload, stream=False,
                                                   header_timeout=None, connect_timeout=connect,
                                                   headers=headers, deadline=deadline)
                    try:
                        raw = await resp.read()
                    finally:
                        resp.release()
                finally:
                    slot()
            except TimeoutError:
                raise UpstreamError(Failure(spec("timeout_total"), provider=name, model=model,
                                            message=f"no complete answer within {budget:g}s")) from None
            except (WireError, OSError) as exc:
                raise UpstreamError(classify_exception(exc, provider=name, model=model,
                                                       phase="stream")) from None
            answer = _accept(route.path, raw, resp, name, model, dialect)
            # its rate-limit headers are learned with the rest of the bookkeeping, after
            # the answer is written (Router._answered), not on the client's critical path
            answer.rate_headers = resp.headers
            return answer
        ttft = min(policy.ttft_timeout, budget)
        loop = running_loop()
        # the wait for a pooled connection ends at the pool-wait share of
        # the connect timeout, or at the time to first token if that comes first
        slot = self._gates.take(target)
        header_timeout = ttft
        if slot is None:   # the pool is busy: the wait counts against the time to first token
            share = connect * POOL_WAIT_SHARE
            entered = loop.time()
            slot = await self._gates.wait(target, min(share, ttft),
                                          connect if share <= ttft else ttft)
            header_timeout = max(0.001, ttft - (loop.time() - entered))
        try:
            resp = await self._client.open(target, path, payload, stream=True,
                                           header_timeout=header_timeout,
                                           connect_timeout=connect, headers=headers)
        except BaseException:
            slot()
            raise
        slot.hold(resp)   # given back when the stream's connection is released or closed
        self._acct.learn_soon(target, resp.headers, reservation)
        dog = Watchdog(resp.content, ttft_at=loop.time() + max(0.001, ttft - (self._clock() - started)),
                       stall=policy.stall_timeout, loop=loop)
        stream = UpstreamStream(resp, target, watchdog=dog,
                                transcript=transcript if transcript is not None else
                                Transcript(_choices(route.body)),
                                continuation=continuation, clock=self._clock, started=started,
                                decoder=None if dialect is OPENAI else dialect.stream_decoder())
        try:
            await stream.prime()
        except BaseException:
            dog.cancel()
            resp.close()
            raise
        return stream


def _choices(body: dict[str, Any]) -> int:
    n = body.get("n")
    return n if type(n) is int and n > 1 else 1


def _prefilled(messages: list[Any], transcript: Transcript) -> list[Any]:
    """The messages plus an assistant message holding exactly the text sent so far (added
    to the client's own trailing assistant prefill, if it sent one)."""
    text = transcript.choice(0).content
    last = messages[-1] if messages else None
    if isinstance(last, dict) and last.get("role") == "assistant" \
            and isinstance(last.get("content"), str):
        return [*messages[:-1], {**last, "content": last["content"] + text}]
    return [*messages, {"role": "assistant", "content": text}]


def _accept(path: str, raw: bytes, resp: Response, name: str,
            model: str, dialect: Dialect = OPENAI) -> Completion:
    """The answer if it is one; malformed_response (a failure) if it is not. Another API's
    answer becomes a chat completion first (and `raw` its bytes: that is what is relayed)."""
    def malformed(why: str) -> UpstreamError:
        return UpstreamError(Failure(spec("malformed_response"), provider=name, model=model,
                                     status=resp.status, message=why))

    try:
        parsed = _json.loads(raw) if dialect is OPENAI else dialect.answer(raw)
    except _json.JSONDecodeError:
        raise malformed("upstream answered 200 with a body that is not JSON") from None
    if dialect is not OPENAI and not parsed.get("error"):
        raw = _json.dumps(parsed)
    if not isinstance(parsed, dict):
        raise malformed("upstream answered 200 with JSON that is not an object")
    if path == EMBEDDINGS_PATH:
        data = parsed.get("data")
        usable = isinstance(data, list) and bool(data)
    else:
        choices = parsed.get("choices")
        usable = (isinstance(choices, list) and bool(choices) and isinstance(choices[0], dict)
                  and isinstance(choices[0].get("message"), dict))
    if not usable:
        if parsed.get("error"):
            raise UpstreamError(classify_response(502, resp.headers, parsed, provider=name,
                                                  model=model))
        what = "`data`" if path == EMBEDDINGS_PATH else "a usable `choices[0].message`"
        raise malformed(f"upstream answered 200 without {what}")
    return Completion(raw=raw, provider=name, model=model, attempts=(), _body=parsed)
