"""Who may reach the gateway: anything beyond loopback needs a master key worth the name."""

from __future__ import annotations

import ipaddress

from .._secret import Secret
from ._problems import Problem, raise_problems

__all__ = ["MASTER_KEY_FIX", "MIN_MASTER_KEY", "bind_problem", "check_bind", "is_loopback",
           "master_key_problem"]

MIN_MASTER_KEY = 16     # characters, for a gateway reachable from the network

MASTER_KEY_FIX = ("add `master_key: os.environ/PROVIDER_FALLBACK_MASTER_KEY` under `server:` and "
                   "export PROVIDER_FALLBACK_MASTER_KEY=<16+ random characters, e.g. from `python -c \"import "
                   "secrets; print(secrets.token_urlsafe(32))\"`> (or put it in .env "
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


def master_key_problem(master_key: Secret | str | None) -> str | None:
    """Why a master key can never work (blank), or None."""
    if master_key is None:
        return None
    value = master_key.reveal() if isinstance(master_key, Secret) else master_key
    if value and not value.strip():
        return "the master key is only whitespace: no client could ever send it"
    return None


def bind_problem(host: str, master_key: Secret | str | None) -> str | None:
    """Why binding `host` with this key (or without one) is refused, or None when it is fine."""
    if is_loopback(host):
        return None
    value = master_key.reveal() if isinstance(master_key, Secret) else (master_key or "")
    if not value.strip():
        return (f"binding to {host!r} would expose the gateway (and your provider keys' quota) "
                f"to the network without a master key")
    if len(value) < MIN_MASTER_KEY:
        return (f"binding to {host!r} needs a master key of at least {MIN_MASTER_KEY} "
                f"characters; this one has {len(value)}, which can be guessed")
    return None


def check_bind(host: str, master_key: Secret | str | None, *, file: str | None = None) -> None:
    """Raise ConfigError when `host` is not loopback and there is no (long enough) master key.

    The CLI calls this again after `--host` overrides `server.host`.
    """
    problem = bind_problem(host, master_key)
    if problem is not None:
        raise_problems([Problem("server.master_key", problem, MASTER_KEY_FIX)], file)
