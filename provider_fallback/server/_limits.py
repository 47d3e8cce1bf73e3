"""The front door's limits as one value, and the descriptor budget they are derived from.

`FrontDoorLimits` is what the HTTP protocol enforces before the application sees a request
(header size and count, header and body timeouts, connections, the lingering close); it is
built once from `server:` and travels to every worker inside the uvicorn config.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass

from ..config import ServerSettings

try:
    import resource  # Unix only: descriptor limits
except ImportError:   # Windows: no such limit to read or raise
    resource = None  # type: ignore[assignment]

__all__ = ["REJECTED", "FrontDoorLimits", "auto_max_connections", "raise_descriptor_limit"]

# descriptors kept for everything but client sockets: the listening socket, SQLite and log
# files, Redis, supervised upstreams' pipes, DNS, imports
_RESERVED_FDS = 64
_AUTO_MAX = 10_000
_WINDOWS_MAX = 4_096   # no descriptor limit to read there; a conservative default

# Connections and requests the front door turned away, by reason (process-wide counters,
# exported as provider_fallback_front_door_rejections_total{reason}).
REJECTED: Counter[str] = Counter()


def _nofile() -> tuple[int, int] | None:
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def raise_descriptor_limit(want: int = 65_536) -> int | None:
    """Raise this process's soft descriptor limit towards its hard limit (as nginx's
    `worker_rlimit_nofile` and Go's runtime do); returns the soft limit in force."""
    limits = _nofile()
    if limits is None:
        return None
    soft, hard = limits
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def auto_max_connections() -> int:
    """Client connections this process can hold with room to spare: every request in flight
    also needs an upstream socket, and connections refused over the limit need one each for
    a moment, so a third of what the descriptor limit leaves after a reserve."""
    limits = _nofile()
    if limits is None:
        return _WINDOWS_MAX if sys.platform == "win32" else _AUTO_MAX
    soft = limits[0]
    if soft == resource.RLIM_INFINITY:
        return _AUTO_MAX
    return max(8, min(_AUTO_MAX, (soft - _RESERVED_FDS) // 3))


@dataclass(frozen=True, slots=True)
class FrontDoorLimits:
    max_header_size: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000
    linger_timeout: float = 5.0
    linger_size: int = 32 * 1024 * 1024

    @classmethod
    def of(cls, server: ServerSettings) -> FrontDoorLimits:
        return cls(max_header_size=server.max_header_size, max_headers=server.max_headers,
                   header_timeout=server.header_timeout, body_timeout=server.body_timeout,
                   max_connections=server.max_connections or auto_max_connections(),
                   linger_timeout=server.linger_timeout, linger_size=server.linger_size)
