"""What the gateway's own HTTP client (`providers/_http1.py`) raises when the wire fails.

The serving process talks to providers, probes, webhooks and count_tokens through that one
client, so it does not load aiohttp (~11 MiB of a worker's memory) for its exception
types. `errors/_transport.py` turns these into registry codes, as it does aiohttp's for
the commands that still use aiohttp (doctor, the simulator).
"""

from __future__ import annotations

__all__ = ["CertificateError", "Closing", "ConnectError", "ConnectTimeout", "DNSError",
           "Disconnected", "InvalidURL", "PayloadError", "ProxyError", "TLSError", "WireError"]


class WireError(Exception):
    """A request to a provider (or a webhook) failed on the wire."""


class ConnectError(WireError, OSError):
    """The connection could not be made. `os_error`: why (its errno is this one's)."""

    def __init__(self, host: str, port: int, os_error: BaseException) -> None:
        number = getattr(os_error, "errno", None)
        text = getattr(os_error, "strerror", None) or str(os_error) or type(os_error).__name__
        super().__init__(number, f"cannot connect to {host}:{port} [{text}]")
        self.host, self.port, self.os_error = host, port, os_error

    def __str__(self) -> str:
        return str(self.strerror)


class DNSError(ConnectError):
    """The host name did not resolve (`os_error`: the socket.gaierror)."""


class TLSError(ConnectError):
    """The TLS handshake failed."""


class CertificateError(TLSError):
    """The server's certificate is not trusted or not for this host."""


class ProxyError(ConnectError):
    """The HTTP(S) proxy could not be reached, or refused the CONNECT."""


class ConnectTimeout(WireError, TimeoutError):
    """The connection was not made within the connect timeout."""


class Disconnected(WireError):
    """The server closed the connection before its answer began."""


class PayloadError(WireError):
    """The answer broke off inside its body, or was not valid HTTP."""


class Closing(WireError):
    """The gateway is shutting down: no new request goes out."""


class InvalidURL(WireError, ValueError):
    """A URL the client cannot request (no http(s) scheme, no host)."""
