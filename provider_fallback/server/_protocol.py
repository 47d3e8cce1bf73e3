"""uvicorn's httptools protocol with the limits it lacks: the gateway's front door.

uvicorn (0.3x-0.5x) bounds neither the size nor the number of request headers (httptools
buffers a header of any size), closes a connection that sends nothing or half a header
never, and either reads the rest of an unwanted body without bound or resets the client
that is still sending it. This subclass, set with `uvicorn.Config(http=...)`, adds:

- request line + headers over `max_header_size` bytes, or more than `max_headers` lines:
  `431 headers_too_large`, checked as bytes arrive (memory stays bounded);
- a request head not complete within `header_timeout` of the connection (or of its first
  byte on a kept-alive connection): `408 client_timeout`, closed; a connection that sent
  nothing at all is just closed; a body that pauses longer than `body_timeout`: the same;
- over `max_connections` open connections: `503 gateway_overloaded` and closed at once,
  before the process runs out of descriptors;
- a lingering close (as nginx does): when an answer is sent before the request body was
  read (an early 413, a 401), the write side is shut, the rest of the body is read and
  thrown away for at most `linger_timeout` and `linger_size` bytes, then the socket is
  closed, so a client still writing reads the answer instead of a connection reset.

Two things for speed, none for limits: a response's head (status line and headers) is
held until the application's next write and leaves with it in one `send` (or, if no write
follows in the same loop step, on its own at the end of the step: never held longer); and
the application can ask to be told when the client goes away (`DISCONNECT_HOOK` in the
scope) instead of running a task per response that waits for `http.disconnect`.

Everything here is per connection and O(1) per chunk; a keep-alive request whose head
and body arrive in one read sets no timer at all. The connection's timers (head, body,
linger and uvicorn's keep-alive timeout) are coarse deadlines (`_deadlines.py`): an
entry in a shared time slot, not a loop timer each.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import time
import weakref
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .._deadlines import Deadline, deadlines
from ..errors import InvalidRequestError, ProviderFallbackError
from ._http import DISCONNECT_HOOK, error_body
from ._limits import REJECTED, FrontDoorLimits

__all__ = ["FrontDoorConfig", "FrontDoorProtocol", "install_accept_guard"]

log = logging.getLogger("provider_fallback.server")

_IDLE, _HEAD, _BODY = 0, 1, 2
# a refused connection (over max_connections) is drained only briefly
_REFUSED_LINGER_S = 1.0
_REFUSED_LINGER_BYTES = 64 * 1024
_LOG_EVERY_S = 5.0


class FrontDoorConfig(uvicorn.Config):
    """uvicorn's Config carrying the front door's limits (pickled to spawned workers)."""

    def __init__(self, app: Any, *, front_door: FrontDoorLimits | None = None,
                 **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.front_door = front_door or FrontDoorLimits()


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that broke a limit."""


class _Flusher:
    """Sends the response heads still held at the end of a loop step: one callback per
    step for every connection of the loop, not one per response (a non-streaming answer's
    body follows its head at once, so the flush almost always finds nothing to do)."""

    __slots__ = ("_held", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._held: list[_GuardedTransport] = []

    def add(self, transport: _GuardedTransport) -> None:
        if not self._held:
            self._loop.call_soon(self._run)
        self._held.append(transport)

    def _run(self) -> None:
        held, self._held = self._held, []
        for transport in held:
            transport.flush()


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = \
    weakref.WeakKeyDictionary()


def _flusher(loop: asyncio.AbstractEventLoop) -> _Flusher:
    flusher = _flushers.get(loop)
    if flusher is None:
        flusher = _flushers[loop] = _Flusher(loop)
    return flusher


class _GuardedTransport:
    """The connection's transport as uvicorn sees it: `close()` asks the protocol, which
    lingers when the client may still be sending a body."""

    __slots__ = ("_flusher", "_held", "_protocol", "real")

    def __init__(self, real: asyncio.Transport, protocol: FrontDoorProtocol,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.real = real
        self._protocol = protocol
        self._flusher = _flusher(loop)
        self._held = b""

    def write(self, data: bytes) -> None:
        held = self._held
        if held:
            self._held = b""
            self.real.write(held + data)
        elif data[:7] == b"HTTP/1.":
            # a response head: it leaves with the first body write, one send instead of
            # two; flushed at the end of this loop step if nothing follows
            self._held = data
            self._flusher.add(self)
        else:
            self.real.write(data)

    def flush(self) -> None:
        held = self._held
        if held:
            self._held = b""
            self.real.write(held)

    def is_closing(self) -> bool:
        return self.real.is_closing()

    def close(self) -> None:
        self.flush()
        self._protocol._close_requested()

    def pause_reading(self) -> None:
        if self._protocol._linger_end is None:
            self.real.pause_reading()

    def resume_reading(self) -> None:
        self.real.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.real.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


# uvicorn (the versions we know) starts a request's task in `_start_asgi_task` and drops
# the keep-alive timer in `_unset_keepalive_if_required`: with both, that timer is ours
_OWN_KEEPALIVE = all(hasattr(HttpToolsProtocol, name) for name in (
    "_start_asgi_task", "_unset_keepalive_if_required", "timeout_keep_alive_handler"))


class FrontDoorProtocol(HttpToolsProtocol):
    def __init__(self, config: uvicorn.Config, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: FrontDoorLimits = getattr(config, "front_door", None) or FrontDoorLimits()
        self._max_head = self.limits.max_header_size
        self._max_headers = self.limits.max_headers
        self._stage = _IDLE
        self._began = False          # a message began during the current feed
        self._head_bytes = 0         # request line + complete headers, as parsed
        self._head_raw = 0           # bytes of a head not complete yet, as received
        self._head_count = 0
        self._refusal: tuple[int, ProviderFallbackError] | None = None
        self._deadlines = deadlines(self.loop)   # the connection's timers: coarse deadlines
        self._head_timer: Deadline | None = None
        self._body_timer: Deadline | None = None
        self._linger_end: Deadline | None = None
        self._linger_left = 0
        self._body_seen = 0.0
        self._lost = False
        self._real: asyncio.Transport | None = None
        self._guarded: _GuardedTransport | None = None
        self._watchers: set[Any] = set()   # DISCONNECT_HOOK callbacks

    # -- connection ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._real = transport
        self._guarded = _GuardedTransport(transport, self, self.loop)
        super().connection_made(self._guarded)  # type: ignore[arg-type]
        open_now = len(self.connections)
        limit = self.limits.max_connections
        if open_now > limit:
            exc = ProviderFallbackError(
                f"the gateway is at its connection limit ({limit} open; "
                "server.max_connections): retry shortly", code="gateway_overloaded",
                http_status=503)
            # a short lingering close so the client reads the 503; in a flood, descriptors
            # matter more: answer and close at once
            flood = open_now > limit + max(16, limit // 8)
            self._refuse(503, exc, "max_connections",
                         linger=None if flood else (_REFUSED_LINGER_S, _REFUSED_LINGER_BYTES),
                         extra=b"retry-after: 1\r\n")
            return
        self._head_timer = self._after(self.limits.header_timeout, self._head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._cancel_timers()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and self._refusal is None:
            # one line, not an error: clients time out and hang up all the time
            log.info("client %s closed the connection before the answer to %s %s was sent",
                     _peer(self.client), cycle.scope.get("method"), cycle.scope.get("path"))
        super().connection_lost(exc)
        if self._watchers:
            watchers, self._watchers = self._watchers, set()
            for callback in watchers:
                callback()

    def _watch(self, callback: Any) -> Any:
        """DISCONNECT_HOOK: call `callback` if the connection is lost; returns the cancel."""
        if self._lost:
            self.loop.call_soon(callback)
            return _nothing
        self._watchers.add(callback)
        return functools.partial(self._watchers.discard, callback)

    def _after(self, delay: float, callback: Any) -> Deadline:
        return self._deadlines.call_at(self.loop.time() + delay, callback)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer, self._linger_end):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = self._linger_end = None

    # -- reading -----------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._linger_end is not None:
            self._linger_left -= len(data)
            if self._linger_left < 0:
                self._close_now()
            return
        if self._refusal is not None or self.parser is None:
            return
        self._unset_keepalive_if_required()
        self._began = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no upgrades served (ws="none"): the request was handled as plain HTTP
        except httptools.HttpParserError:
            if self._refusal is None:
                self._refuse(400, InvalidRequestError("malformed HTTP request",
                                                      code="invalid_request"), "malformed")
            else:
                status, exc = self._refusal
                self._refusal = None
                self._refuse(status, exc, exc.code)
            return
        stage = self._stage
        if stage == _HEAD:
            self._head_raw = len(data) if self._began else self._head_raw + len(data)
            if self._head_raw > self._max_head:
                self._refuse(431, self._too_large("bytes"), "headers_too_large")
                return
            if self._head_timer is None:
                self._head_timer = self._after(self.limits.header_timeout, self._head_timeout)
        elif stage == _BODY:
            # one timer per body, re-armed only when it fires: a chunk just notes the time
            self._body_seen = self.loop.time()
            if self._body_timer is None:
                self._body_timer = self._after(self.limits.body_timeout, self._body_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[DISCONNECT_HOOK] = self._watch  # type: ignore[literal-required]
        self._stage = _HEAD
        self._began = True
        self._head_bytes = self._head_count = self._head_raw = 0

    def on_url(self, url: bytes) -> None:
        self.url += url   # as uvicorn's, inlined: these two run for every request
        self._head_bytes += len(url)
        if self._head_bytes > self._max_head:
            self._refusal = (431, self._too_large("bytes"))
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        count = self._head_count = self._head_count + 1
        size = self._head_bytes = self._head_bytes + len(name) + len(value) + 4
        if size > self._max_head or count > self._max_headers:
            self._refusal = (431, self._too_large("bytes" if size > self._max_head else "count"))
            raise _Refused
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._stage = _BODY
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stage = _IDLE
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # answered before the request body was read (a 401 or 404 before the body, ...):
        # reading the rest of it for the next request could take forever; linger instead
        if (self._stage == _BODY and not self.pipeline and not self._lost
                and self.cycle is not None and self.cycle.response_complete):
            self.server_state.total_requests += 1
            self._start_linger(self.limits.linger_timeout, self.limits.linger_size)
            return
        if not _OWN_KEEPALIVE:
            super().on_response_complete()
            return
        # uvicorn's own, but the keep-alive timeout is a coarse deadline: not one loop
        # timer armed and cancelled per request on a kept-alive connection
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self.timeout_keep_alive_task = self._after(  # type: ignore[assignment]
                self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def _too_large(self, what: str) -> InvalidRequestError:
        if what == "count":
            text = (f"more than {self.limits.max_headers} request headers "
                    "(server.max_headers)")
        else:
            text = (f"request line and headers over {self.limits.max_header_size} bytes "
                    "(server.max_header_size)")
        return InvalidRequestError(text, code="headers_too_large", http_status=431)

    # -- timers ------------------------------------------------------------------------
    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._lost or self._linger_end is not None:
            return
        if self._stage == _HEAD:
            self._refuse(408, InvalidRequestError(
                f"request headers not received within {self.limits.header_timeout:g}s "
                "(server.header_timeout)", code="client_timeout", http_status=408),
                "header_timeout", linger=None)
        elif self._stage == _IDLE and (self.cycle is None or self.cycle.response_complete):
            REJECTED["idle"] += 1
            self._close_now()   # sent nothing at all: nobody to answer

    def _body_timeout(self) -> None:
        self._body_timer = None
        if self._lost or self._stage != _BODY or self._linger_end is not None:
            return
        idle = self.loop.time() - self._body_seen
        if idle < self.limits.body_timeout or self.flow.read_paused:
            # data came meanwhile, or the application is behind (reading paused), not
            # the client
            wait = self.limits.body_timeout - idle if idle < self.limits.body_timeout \
                else self.limits.body_timeout
            self._body_timer = self._after(wait, self._body_timeout)
            return
        exc = InvalidRequestError(f"the request body paused for more than "
                                  f"{self.limits.body_timeout:g}s (server.body_timeout)",
                                  code="client_timeout", http_status=408)
        if self.cycle is not None and self.cycle.response_started:
            REJECTED["body_timeout"] += 1
            self._close_now()
        else:
            self._refuse(408, exc, "body_timeout", linger=None)

    # -- answering and closing ---------------------------------------------------------
    def _refuse(self, status: int, exc: ProviderFallbackError, reason: str, *,
                linger: tuple[float, int] | None | bool = True, extra: bytes = b"") -> None:
        """Answer `status` with an OpenAI-format error ourselves and close the connection."""
        REJECTED[reason] += 1
        _log_refusal(reason, status, self.client, exc.message)
        self._refusal = (status, exc)
        self._cancel_timers()
        real = self._real
        if real is None or real.is_closing():
            return
        self._flush()
        body = error_body(exc)
        real.write(b"".join((STATUS_LINE[status], b"content-type: application/json\r\n",
                             b"content-length: ", str(len(body)).encode(), b"\r\n", extra,
                             b"connection: close\r\n\r\n", body)))
        if self.cycle is not None and not self.cycle.response_complete:
            # the application must not answer too (its sends become no-ops)
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if linger is None or linger is False:
            self._close_now()
        elif linger is True:
            self._start_linger(self.limits.linger_timeout, self.limits.linger_size)
        else:
            self._start_linger(*linger)

    def _close_requested(self) -> None:
        """uvicorn closes the transport: linger if the client may still be sending."""
        if self._linger_end is not None:
            return
        if self._stage == _BODY and not self._lost:
            self._start_linger(self.limits.linger_timeout, self.limits.linger_size)
        else:
            self._close_now()

    def _start_linger(self, timeout: float, size: int) -> None:
        real = self._real
        if real is None or real.is_closing() or self._lost or self._linger_end is not None:
            return
        if timeout <= 0 or size <= 0:
            self._close_now()
            return
        self._cancel_timers()
        self._flush()
        self._linger_left = size
        self._linger_end = self._after(timeout, self._close_now)
        try:
            if real.can_write_eof():
                real.write_eof()   # the answer, then FIN: the client reads it, then EOF
        except (OSError, RuntimeError):
            self._close_now()
            return
        real.resume_reading()

    def _close_now(self) -> None:
        if self._linger_end is not None:
            self._linger_end.cancel()
            self._linger_end = None
        real = self._real
        if real is not None and not real.is_closing():
            self._flush()
            real.close()

    def _flush(self) -> None:
        if self._guarded is not None:
            self._guarded.flush()

    # eof_received (uvicorn's) returns None: on the client's FIN the transport closes, which
    # also ends a lingering close once the client has sent everything

    def shutdown(self) -> None:
        if self._linger_end is not None:
            return   # closes on its own, within linger_timeout
        if self._stage == _HEAD:
            self._close_now()
            return
        super().shutdown()


_last_logged: dict[str, tuple[float, int]] = {}


def _nothing() -> None:
    return None


def _log_refusal(reason: str, status: int, client: Any, message: str,
                 level: int = logging.INFO) -> None:
    """One line per reason every few seconds (an attack must not flood the log)."""
    now = time.monotonic()
    last, quiet = _last_logged.get(reason, (0.0, 0))
    if now - last < _LOG_EVERY_S:
        _last_logged[reason] = (last, quiet + 1)
        return
    _last_logged[reason] = (now, 0)
    more = f" ({quiet} more since the last line)" if quiet else ""
    log.log(level, "refused %s from %s: %s%s", status, _peer(client), message, more)


_ACCEPT_ERRNOS = frozenset(getattr(errno, n) for n in ("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM")
                           if hasattr(errno, n))


def install_accept_guard(loop: asyncio.AbstractEventLoop) -> None:
    """When accept() itself runs out of descriptors (a burst of connections faster than the
    connection limit sheds them), asyncio stops accepting for a second and logs an error
    with a traceback. The connections wait in the listen queue meanwhile: nothing is lost,
    so it is one warning line (and a counted rejection), not an error."""
    previous = loop.get_exception_handler()
    if getattr(previous, "front_door", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if "accept" in str(context.get("message", "")) and isinstance(exc, OSError) \
                and exc.errno in _ACCEPT_ERRNOS:
            REJECTED["accept_paused"] += 1
            _log_refusal("accept_paused", 503, None, "out of descriptors while accepting: new "
                         "connections wait in the listen queue for a second (lower "
                         "server.max_connections or raise the descriptor limit)",
                         logging.WARNING)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.front_door = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


def _peer(client: Any) -> str:
    if isinstance(client, tuple) and len(client) >= 2:
        return f"{client[0]}:{client[1]}"
    return "unknown"
