"""Checks of this machine: the serve port, proxy variables, the clock."""

from __future__ import annotations

import errno
import socket
import sys
import urllib.request
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from ..config import ProviderSpec
from ..errors import Facts
from ..providers import proxy_for
from ._commands import Runner, run_command
from ._findings import Finding, Severity
from ._network import is_loopback
from ._ports import find_holder

__all__ = ["check_clock", "check_port", "check_proxy_env", "port_holder"]

CLOCK_SKEW_LIMIT = 10.0   # seconds; Retry-After dates and reset times go wrong beyond this


def check_port(host: str, port: int, *, platform: str = sys.platform,
               runner: Runner = run_command) -> Finding:
    """Can `serve` bind host:port? Same socket options as serve; the holder named when the
    OS tells (blocking: doctor calls it from a thread)."""
    where = f"{host}:{port}"
    facts = Facts.of(host=host, port=port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        _exclusive(sock)
        sock.bind((host, port))
    except OSError as exc:
        number = getattr(exc, "winerror", None) or exc.errno
        facts = Facts.of(next_port=_free_port_after(host, port)).merge(facts)
        if number in (errno.EADDRINUSE, 10048):
            holder = find_holder(port, platform=platform, runner=runner)
            who = f"held by {holder}" if holder else "held by an unknown process"
            if holder is not None:
                facts = Facts(pid=str(holder.pid)).merge(facts)
            return Finding("port", where, Severity.ERROR, f"{where} is already in use ({who})",
                           "address_in_use", (), {"holder": str(holder) if holder else None},
                           facts)
        if number in (errno.EACCES, 10013):
            return Finding("port", where, Severity.ERROR, f"not allowed to bind {where}",
                           "access_denied_socket", facts=facts)
        if number == errno.EADDRNOTAVAIL:
            return Finding("port", where, Severity.ERROR,
                           f"{host} is not an address of this machine", "config_error",
                           ("set server.host to 127.0.0.1 (this machine) or 0.0.0.0 (all)",))
        return Finding("port", where, Severity.ERROR, f"cannot bind {where}: {exc.strerror}",
                       "gateway_error")
    finally:
        sock.close()
    return Finding("port", where, Severity.OK, f"{where} is free for `serve`")


def _exclusive(sock: socket.socket) -> None:
    if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


def _free_port_after(host: str, port: int, tries: int = 20) -> int | None:
    """The first port after `port` that binds (skipping 4000, LiteLLM's usual port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        if candidate == 4000:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                _exclusive(probe)
                probe.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return None


def port_holder(port: int) -> str | None:
    """'pid 1234 (python)' for the process listening on `port`, where the OS lets us see it
    (Windows: netstat + tasklist; macOS: lsof; Linux: /proc). Blocking."""
    holder = find_holder(port)
    return str(holder) if holder else None


def check_proxy_env(providers: Iterable[ProviderSpec], gateway_host: str = "127.0.0.1"
                    ) -> Finding:
    """HTTP(S)_PROXY without NO_PROXY for localhost sends local traffic to the proxy.

    Read from the process environment, as the gateway's client reads it.
    """
    proxies = urllib.request.getproxies_environment()
    active = {k: v for k, v in proxies.items() if k in ("http", "https", "all")}
    if not active:
        return Finding("proxy", "environment", Severity.OK, "no HTTP(S)_PROXY set")
    names = ", ".join(f"{k.upper()}_PROXY" for k in sorted(active))
    local = [p.name for p in providers
             if is_loopback(urlsplit(p.base_url).hostname or "") and proxy_for(p.base_url)]
    if local:
        return Finding("proxy", "environment", Severity.ERROR,
                       f"{names} is set and NO_PROXY does not cover localhost: local providers "
                       f"{', '.join(local)} would be reached through the proxy",
                       "proxy_env_local", (), {"providers": local})
    gateway = f"http://{'127.0.0.1' if gateway_host in ('0.0.0.0', '::') else gateway_host}:1"
    if proxy_for(gateway):
        return Finding("proxy", "environment", Severity.WARNING,
                       f"{names} is set and NO_PROXY does not cover localhost: clients that honour "
                       f"it (openai, curl) would send gateway requests to the proxy",
                       "proxy_env_local")
    return Finding("proxy", "environment", Severity.OK, f"{names} set; NO_PROXY covers localhost")


def check_clock(skews: Mapping[str, float]) -> Finding:
    """Compare this machine's clock with the providers' HTTP Date headers."""
    if not skews:
        return Finding("clock", "system clock", Severity.INFO,
                       "not checked: no provider answered with a Date header")
    name, worst = max(skews.items(), key=lambda kv: abs(kv[1]))
    if abs(worst) > CLOCK_SKEW_LIMIT:
        direction = "behind" if worst > 0 else "ahead of"
        return Finding("clock", "system clock", Severity.WARNING,
                       f"this machine's clock is {abs(worst):.0f}s {direction} {name}'s",
                       "clock_skew", (), {"skew_s": round(worst, 1), "provider": name})
    return Finding("clock", "system clock", Severity.OK,
                   f"within {CLOCK_SKEW_LIMIT:g}s of the providers' clocks")
