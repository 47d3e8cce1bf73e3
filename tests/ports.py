"""Loopback ports for the servers tests start (simulated providers, gateways, Redis)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["ephemeral_start", "free_port"]


def ephemeral_start() -> int:
    """Where this system's ephemeral ports begin (Linux: ip_local_port_range; Windows and
    macOS use 49152 and up)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


# Ports for the test's own servers: below the ephemeral range. A port the OS handed out
# with bind(0) is an ephemeral one, and any outgoing connection (a router calling a
# simulated provider, a Redis client retrying) may take it as its source port while the
# server is stopped: a node killed and restarted on its port then cannot bind it.
_PORTS = (20000, max(20001, min(ephemeral_start(), 32768) - 1))
_handed: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, outside the ephemeral range, never the same
    one twice in this process (two nodes of one group are given their ports before
    either binds)."""
    rng = random.Random()
    for _ in range(500):
        port = rng.randint(*_PORTS)
        if port in _handed:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {_PORTS[0]}-{_PORTS[1]}")
