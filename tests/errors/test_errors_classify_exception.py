"""classify_exception: real exceptions from the stdlib and aiohttp, per phase and OS errno."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey, RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from provider_fallback.errors import Failure, UpstreamError, classify_exception, spec
from provider_fallback.errors._transport import ERRNO_TABLE, PHASES

KEY = ConnectionKey("api.groq.com", 443, True, True, None, None, None, None)
PROXY_KEY = ConnectionKey("proxy.local", 3128, False, True, None, None, None, None)


def connector(os_error: OSError) -> aiohttp.ClientConnectorError:
    return aiohttp.ClientConnectorError(KEY, os_error)


def request_info() -> RequestInfo:
    url = URL("https://api.groq.com/openai/v1/chat/completions")
    return RequestInfo(url, "POST", CIMultiDictProxy(CIMultiDict()), url)


def chained(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as caught:
        return caught


CASES: list[tuple[str, BaseException, str, str]] = [
    # id, exception, phase, code
    ("refused-errno", ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connect",
     "connection_refused"),
    ("refused-bare", ConnectionRefusedError("refused"), "connect", "connection_refused"),
    ("refused-winerror", OSError(10061, "No connection could be made because the target machine "
                                        "actively refused it"), "connect", "connection_refused"),
    ("timedout-errno", OSError(errno.ETIMEDOUT, "Connection timed out"), "connect", "connect_timeout"),
    ("timedout-winerror", OSError(10060, "A connection attempt failed"), "connect", "connect_timeout"),
    ("reset-errno", ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "connect",
     "connection_reset"),
    ("reset-winerror", OSError(10054, "An existing connection was forcibly closed"), "first_token",
     "connection_reset"),
    ("reset-in-stream", ConnectionResetError(errno.ECONNRESET, "reset"), "stream", "stream_cut"),
    ("aborted-winerror", OSError(10053, "An established connection was aborted"), "connect",
     "connection_aborted"),
    ("aborted-errno", ConnectionAbortedError(errno.ECONNABORTED, "aborted"), "connect",
     "connection_aborted"),
    ("broken-pipe", BrokenPipeError(errno.EPIPE, "Broken pipe"), "connect", "broken_pipe"),
    ("eproto", OSError(errno.EPROTO, "Protocol error"), "connect", "tls_error"),
    ("hostunreach", OSError(errno.EHOSTUNREACH, "No route to host"), "connect", "host_unreachable"),
    ("hostunreach-win", OSError(10065, "A socket operation was attempted to an unreachable host"),
     "connect", "host_unreachable"),
    ("netunreach", OSError(errno.ENETUNREACH, "Network is unreachable"), "connect",
     "network_unreachable"),
    ("netunreach-win", OSError(10051, "unreachable network"), "connect", "network_unreachable"),
    ("addrinuse", OSError(errno.EADDRINUSE, "Address already in use"), "connect", "address_in_use"),
    ("addrinuse-win", OSError(10048, "Only one usage of each socket address"), "connect",
     "address_in_use"),
    ("access-win", OSError(10013, "An attempt was made to access a socket in a way forbidden by its "
                                  "access permissions"), "connect", "access_denied_socket"),
    ("dns-win", OSError(11001, "getaddrinfo failed"), "connect", "dns_failure"),
    ("gaierror-noname", socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "connect",
     "dns_failure"),
    ("gaierror-again", socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
     "connect", "dns_temporary"),
    ("aiohttp-dns", aiohttp.ClientConnectorDNSError(
        KEY, socket.gaierror(socket.EAI_NONAME, "Name or service not known")), "connect", "dns_failure"),
    ("aiohttp-dns-again", aiohttp.ClientConnectorDNSError(
        KEY, socket.gaierror(socket.EAI_AGAIN, "Temporary failure")), "connect", "dns_temporary"),
    ("aiohttp-connector-refused", connector(ConnectionRefusedError(errno.ECONNREFUSED, "refused")),
     "connect", "connection_refused"),
    ("aiohttp-connector-win-refused", connector(OSError(10061, "actively refused")), "connect",
     "connection_refused"),
    ("aiohttp-cert", aiohttp.ClientConnectorCertificateError(
        KEY, ssl.SSLCertVerificationError(1, "certificate verify failed")), "connect", "tls_error"),
    ("aiohttp-ssl", aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError(1, "wrong version number")),
     "connect", "tls_error"),
    ("ssl-error", ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "connect",
     "tls_error"),
    ("aiohttp-proxy", aiohttp.ClientProxyConnectionError(
        PROXY_KEY, ConnectionRefusedError(errno.ECONNREFUSED, "refused")), "connect", "proxy_error"),
    ("aiohttp-proxy-http", aiohttp.ClientHttpProxyError(request_info(), (), status=407,
                                                       message="Proxy Authentication Required"),
     "connect", "proxy_error"),
    ("server-disconnected", aiohttp.ServerDisconnectedError(), "first_token", "connection_reset"),
    ("server-disconnected-stream", aiohttp.ServerDisconnectedError(), "stream", "stream_cut"),
    ("payload", aiohttp.ClientPayloadError("Response payload is not completed"), "total",
     "connection_reset"),
    ("payload-stream", aiohttp.ClientPayloadError("Response payload is not completed"), "stream",
     "stream_cut"),
    ("client-connection-reset", aiohttp.ClientConnectionResetError("Cannot write to closing transport"),
     "connect", "connection_reset"),
    ("client-os-error", aiohttp.ClientOSError(), "connect", "connection_error"),
    ("connection-timeout", aiohttp.ConnectionTimeoutError("Connection timeout to host"), "first_token",
     "timeout_connect"),
    ("server-timeout-stream", aiohttp.SocketTimeoutError("Timeout on reading data from socket"),
     "stream", "stream_stalled"),
    ("server-timeout-total", aiohttp.ServerTimeoutError("timeout"), "total", "timeout_total"),
    ("invalid-url", aiohttp.InvalidURL("not a url"), "connect", "config_error"),
    ("client-connection-error", aiohttp.ClientConnectionError("Connection closed"), "connect",
     "connection_error"),
    ("server-connection-error", aiohttp.ServerConnectionError(), "first_token", "connection_error"),
    ("client-connector-error", connector(OSError(errno.ENOENT, "odd")), "connect", "connection_error"),
    ("client-ssl-error", aiohttp.ClientSSLError(KEY, ssl.SSLError(1, "handshake failure")), "connect",
     "tls_error"),
    ("fingerprint", aiohttp.ServerFingerprintMismatch(b"a" * 32, b"b" * 32, "api.groq.com", 443),
     "connect", "tls_error"),
    ("upload-aborted", aiohttp.UploadAbortedError("request body not fully sent"), "connect",
     "broken_pipe"),
    ("response-429", aiohttp.ClientResponseError(
        request_info(), (), status=429, message="Too Many Requests",
        headers=CIMultiDictProxy(CIMultiDict({"Retry-After": "5"}))), "total", "rate_limit"),
    ("value-error", ValueError("weird"), "connect", "unknown_error"),
    ("runtime-error", RuntimeError(), "total", "unknown_error"),
    ("wrapped-refused", chained(RuntimeError("request failed"),
                                ConnectionRefusedError(errno.ECONNREFUSED, "refused")), "connect",
     "connection_refused"),
]


@pytest.mark.parametrize(("exc", "phase", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify_exception_table(exc: BaseException, phase: str, code: str) -> None:
    failure = classify_exception(exc, provider="groq", model="llama-3.3-70b-versatile", phase=phase)
    assert failure.code == code, failure.message
    assert (failure.provider, failure.model) == ("groq", "llama-3.3-70b-versatile")
    assert failure.message.startswith(type(exc).__name__) or failure.code == "rate_limit"
    assert "Traceback" not in failure.message


@pytest.mark.parametrize(("phase", "code"), [("connect", "timeout_connect"),
                                             ("first_token", "timeout_first_token"),
                                             ("stream", "stream_stalled"), ("total", "timeout_total")])
async def test_asyncio_timeout_per_phase(phase: str, code: str) -> None:
    with pytest.raises(TimeoutError) as info:
        async with asyncio.timeout(0):
            await asyncio.sleep(1)
    assert classify_exception(info.value, phase=phase).code == code
    assert classify_exception(TimeoutError(), phase=phase).code == code


async def test_real_refused_connection() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            await session.get(f"http://127.0.0.1:{port}/v1/models")
    failure = classify_exception(info.value, provider="local", phase="connect")
    assert failure.code == "connection_refused"
    assert failure.detail["errno"] in (errno.ECONNREFUSED, 10061)


def test_unknown_message_is_scrubbed_and_short() -> None:
    failure = classify_exception(RuntimeError("boom with sk-abcdef1234567890 " + "x" * 2000))
    assert failure.code == "unknown_error"
    assert failure.message.startswith("RuntimeError: boom with [secret]")
    assert len(failure.message) <= 500


def test_upstream_error_passes_its_failure_through() -> None:
    original = Failure(spec("rate_limit_rpm"), provider="groq", model="m", status=429)
    assert classify_exception(UpstreamError(original)) is original


def test_suppressed_context_is_not_followed() -> None:
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
        except ConnectionRefusedError:
            raise ValueError("unrelated") from None
    except ValueError as exc:
        assert classify_exception(exc).code == "unknown_error"


def test_errno_table_covers_windows_and_posix() -> None:
    for number in (10061, 10060, 10054, 10053, 10048, 10013, 10065, 10051, 11001):
        assert number in ERRNO_TABLE
    for name in ("ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "ECONNABORTED", "EPIPE",
                 "EHOSTUNREACH", "ENETUNREACH", "EADDRINUSE"):
        assert getattr(errno, name) in ERRNO_TABLE
    assert set(PHASES) == {"connect", "first_token", "stream", "total"}


def test_every_mapped_code_is_registered() -> None:
    from provider_fallback.errors import REGISTRY

    assert set(ERRNO_TABLE.values()) <= set(REGISTRY)
    assert set(PHASES.values()) <= set(REGISTRY)
    assert {c[3] for c in CASES} <= set(REGISTRY)


# aiohttp errors that are not transport failures (answers, redirects, websockets, bad
# arguments) or abstract bases covered by their concrete subclasses above.
NOT_TRANSPORT = {"ClientError", "ClientResponseError", "ContentTypeError", "WSServerHandshakeError",
                 "TooManyRedirects", "InvalidUrlClientError", "InvalidUrlRedirectClientError",
                 "NonHttpUrlClientError", "NonHttpUrlRedirectClientError", "RedirectClientError",
                 "WSMessageTypeError", "UnixClientConnectorError"}


def test_every_aiohttp_client_error_is_mapped() -> None:
    """Every aiohttp transport exception class has a row above, so none falls to unknown_error."""
    names = {n for n in dir(aiohttp) if isinstance(getattr(aiohttp, n), type)
             and issubclass(getattr(aiohttp, n), aiohttp.ClientError)}
    mapped = {type(c[1]).__name__ for c in CASES if c[3] != "unknown_error"}
    assert sorted(names - mapped - NOT_TRANSPORT) == []
