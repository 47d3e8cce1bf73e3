"""Turning a transport exception (ours, aiohttp's, asyncio, OSError) into a registry Failure.

The one place client exceptions meet the registry. Decides by exception type and errno
(Linux, macOS and Windows numbers), walking `os_error`, `__cause__` and `__context__`;
never by the exception's text. The gateway's own HTTP client raises `_wire`'s classes;
aiohttp's (doctor, the simulator) are known too, once something has imported aiohttp:
the serving process never does, so no aiohttp exception can reach it there.
"""

from __future__ import annotations

import errno
import socket
import ssl
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from . import _wire
from ._classify import classify_response
from ._registry import spec
from ._scrub import clip, scrub_secrets
from ._types import Failure

__all__ = ["ERRNO_TABLE", "PHASES", "classify_exception"]


def _errno_table() -> dict[int, str]:
    by_name = {
        "ECONNREFUSED": "connection_refused",
        "ETIMEDOUT": "connect_timeout",
        "ECONNRESET": "connection_reset",
        "ENETRESET": "connection_reset",
        "ECONNABORTED": "connection_aborted",
        "EPIPE": "broken_pipe",
        "ESHUTDOWN": "broken_pipe",
        "EPROTO": "tls_error",
        "EHOSTUNREACH": "host_unreachable",
        "EHOSTDOWN": "host_unreachable",
        "ENETUNREACH": "network_unreachable",
        "ENETDOWN": "network_unreachable",
        "EADDRINUSE": "address_in_use",
        "EACCES": "access_denied_socket",
        # the gateway's own resources, never the provider's failure
        "EMFILE": "gateway_overloaded",
        "ENFILE": "gateway_overloaded",
        "ENOBUFS": "gateway_overloaded",
        "ENOMEM": "gateway_overloaded",
    }
    table: dict[int, str] = {}
    for name, code in by_name.items():
        number = getattr(errno, name, None)
        if number is not None:
            table[number] = code
    # Windows sockets (WSAE*), as seen in `winerror` or in errno on Windows.
    table.update({
        10061: "connection_refused",    # WSAECONNREFUSED
        10060: "connect_timeout",       # WSAETIMEDOUT
        10054: "connection_reset",      # WSAECONNRESET
        10052: "connection_reset",      # WSAENETRESET
        10053: "connection_aborted",    # WSAECONNABORTED
        10058: "broken_pipe",           # WSAESHUTDOWN
        10048: "address_in_use",        # WSAEADDRINUSE
        10013: "access_denied_socket",  # WSAEACCES
        10024: "gateway_overloaded",    # WSAEMFILE
        10055: "gateway_overloaded",    # WSAENOBUFS
        10065: "host_unreachable",      # WSAEHOSTUNREACH
        10064: "host_unreachable",      # WSAEHOSTDOWN
        10051: "network_unreachable",   # WSAENETUNREACH
        10050: "network_unreachable",   # WSAENETDOWN
        11001: "dns_failure",           # WSAHOST_NOT_FOUND
        11002: "dns_temporary",         # WSATRY_AGAIN
        11003: "dns_failure",           # WSANO_RECOVERY
        11004: "dns_failure",           # WSANO_DATA
    })
    return table


ERRNO_TABLE: Mapping[int, str] = _errno_table()

# getaddrinfo() codes are a separate number space (macOS EAI_AGAIN == 2 == ENOENT), so
# they are only read from socket.gaierror, never from ERRNO_TABLE.
_EAI_TEMPORARY = frozenset(n for n in (getattr(socket, "EAI_AGAIN", None), 11002) if n is not None)

PHASES: Mapping[str, str] = {
    "connect": "timeout_connect",
    "first_token": "timeout_first_token",
    "stream": "stream_stalled",
    "total": "timeout_total",
}
# A reset while a body is being read is a cut stream, not a failed connection.
_STREAM_CUTS = frozenset({"connection_reset", "connection_aborted", "broken_pipe"})


class _Kinds:
    """The exception classes each code is read from: ours, plus aiohttp's when `aiohttp`
    is the loaded module (some of its classes are 3.10+)."""

    def __init__(self, aiohttp: Any) -> None:
        self.aiohttp = aiohttp

        def types(*names: str) -> tuple[type[BaseException], ...]:
            return tuple(t for n in names if isinstance(t := getattr(aiohttp, n, None), type))

        self.tls = (_wire.TLSError, *types("ClientSSLError", "ServerFingerprintMismatch"),
                    ssl.SSLError, ssl.CertificateError)
        self.proxy = (_wire.ProxyError, *types("ClientProxyConnectionError", "ClientHttpProxyError"))
        self.dns = (_wire.DNSError, *types("ClientConnectorDNSError"), socket.gaierror)
        self.connect_timeout = (_wire.ConnectTimeout, *types("ConnectionTimeoutError"))
        self.disconnect = (_wire.Disconnected, _wire.PayloadError,
                           *types("ServerDisconnectedError", "ClientPayloadError"))
        self.connection = (_wire.WireError, ConnectionError, *types("ClientConnectionError"))
        self.invalid_url = (_wire.InvalidURL, *types("InvalidURL"))
        self.connector = (_wire.ConnectError, *types("ClientConnectorError"))
        self.response = types("ClientResponseError")
        self.builtin: tuple[tuple[type[BaseException], str], ...] = (
            (ConnectionRefusedError, "connection_refused"),
            (ConnectionResetError, "connection_reset"),
            (ConnectionAbortedError, "connection_aborted"),
            (BrokenPipeError, "broken_pipe"),
            *((t, "broken_pipe") for t in types("UploadAbortedError")),  # request body cut off
        )


_KINDS = _Kinds(None)


def _kinds() -> _Kinds:
    global _KINDS
    loaded = sys.modules.get("aiohttp")
    if loaded is not _KINDS.aiohttp and loaded is not None:
        _KINDS = _Kinds(loaded)
    return _KINDS


def classify_exception(exc: BaseException, *, provider: str | None = None,
                       model: str | None = None, phase: str = "connect") -> Failure:
    """Classify an exception raised while talking to a provider.

    `phase` says where it happened: "connect", "first_token" (waiting for the answer to
    start), "stream" (reading the body) or "total"; it decides what a timeout or a
    dropped connection means. Unrecognised exceptions give `unknown_error`.
    """
    from ._exceptions import UpstreamError  # the exception tree depends on us, not vice versa

    if isinstance(exc, UpstreamError):
        return exc.failure
    kinds = _kinds()
    chain = list(_chain(exc))
    for candidate in chain:
        if isinstance(candidate, kinds.response) \
                and not isinstance(candidate, kinds.proxy) and candidate.status >= 400:  # type: ignore[attr-defined]
            return classify_response(candidate.status, candidate.headers or {},  # type: ignore[attr-defined]
                                     candidate.message,  # type: ignore[attr-defined]
                                     provider=provider, model=model)
    code: str | None = None
    number: int | None = None
    for candidate in chain:
        code, found = _classify_one(candidate, phase, kinds)
        number = found if number is None else number
        if code is not None:
            break
    if code is None:
        generic = any(isinstance(c, kinds.connection) for c in chain)
        code = "connection_error" if generic else "unknown_error"
    if phase == "stream" and code in _STREAM_CUTS:
        code = "stream_cut"
    detail: dict[str, object] = {"exception": type(exc).__name__, "phase": phase}
    if number is not None:
        detail["errno"] = number
    return Failure(spec(code), provider=provider, model=model, message=_describe(exc),
                   detail=detail)


def _classify_one(exc: BaseException, phase: str,
                  kinds: _Kinds) -> tuple[str | None, int | None]:
    """(code or None, errno seen or None) for one exception of the chain."""
    if isinstance(exc, kinds.proxy):
        return "proxy_error", None
    if isinstance(exc, kinds.dns):
        number = _dns_errno(exc, kinds)
        return ("dns_temporary" if number in _EAI_TEMPORARY else "dns_failure"), number
    if isinstance(exc, kinds.tls):
        return "tls_error", None
    if isinstance(exc, kinds.connect_timeout):
        return "timeout_connect", None  # sock_connect expired: a connect timeout in any phase
    number = _os_errno(exc)
    if number is not None and number in ERRNO_TABLE:
        return ERRNO_TABLE[number], number
    if isinstance(exc, TimeoutError):  # asyncio/aiohttp timeouts: meaning depends on the phase
        return PHASES.get(phase, "timeout_total"), number
    if isinstance(exc, kinds.disconnect):
        return ("stream_cut" if phase == "stream" else "connection_reset"), number
    for kind, code in kinds.builtin:
        if isinstance(exc, kind):
            return code, number
    if isinstance(exc, kinds.invalid_url):
        return "config_error", number
    return None, number


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it wraps (os_error, __cause__, __context__), breadth-first, no repeats."""
    seen: set[int] = set()
    queue: list[BaseException] = [exc]
    while queue and len(seen) < 16:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        context = None if current.__suppress_context__ else current.__context__
        for nxt in (getattr(current, "os_error", None), current.__cause__, context):
            if isinstance(nxt, BaseException):
                queue.append(nxt)


def _os_errno(exc: BaseException) -> int | None:
    if not isinstance(exc, OSError) or isinstance(exc, socket.gaierror | ssl.SSLError):
        return None
    winerror = getattr(exc, "winerror", None)
    if isinstance(winerror, int) and winerror in ERRNO_TABLE:
        return winerror
    return exc.errno if isinstance(exc.errno, int) else None


def _dns_errno(exc: BaseException, kinds: _Kinds) -> int | None:
    if isinstance(exc, kinds.connector):
        exc = exc.os_error  # type: ignore[attr-defined]
    return exc.errno if isinstance(exc, OSError) and isinstance(exc.errno, int) else None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    return clip(scrub_secrets(f"{name}: {text}" if text else name))
