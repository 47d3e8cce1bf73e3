"""Who may reach the gateway: anything beyond loopback needs a master key."""

from __future__ import annotations

import ipaddress

from .._secret import Secret
from ._problems import Problem, raise_problems

__all__ = ["MASTER_KEY_FIX", "bind_problem", "check_bind", "is_loopback"]

MASTER_KEY_FIX = ("add `master_key: os.environ/PROVIDER_FALLBACK_MASTER_KEY` under `server:` and "
                   "export PROVIDER_FALLBACK_MASTER_KEY=<a long random value> (or put it in .env "
                   "beside the config), or bind to 127.0.0.1")


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (also written [::1])."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def bind_problem(host: str, master_key: Secret | str | None) -> str | None:
    """Why binding `host` without a key is refused, or None when it is fine."""
    if is_loopback(host) or master_key:
        return None
    return (f"binding to {host!r} would expose the gateway (and your provider keys' quota) to "
            f"the network without a master key")


def check_bind(host: str, master_key: Secret | str | None, *, file: str | None = None) -> None:
    """Raise ConfigError when `host` is not loopback and there is no master key.

    The CLI calls this again after `--host` overrides `server.host`.
    """
    problem = bind_problem(host, master_key)
    if problem is not None:
        raise_problems([Problem("server.master_key", problem, MASTER_KEY_FIX)], file)
