"""Finding registry codes by the names users meet: the runbook's own names
(`groq-rate-limit`, `litellm-port-in-use`), an HTTP status (`429`), an errno name
(`ECONNREFUSED`, `EAI_AGAIN`) or a Windows socket error (`10013`, `WinError 10061`,
`WSAECONNREFUSED`); "did you mean" for the rest."""

from __future__ import annotations

import difflib
import errno
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ._classify import MESSAGE_RULES, STATUS_TABLE
from ._registry import REGISTRY
from ._transport import ERRNO_TABLE

__all__ = ["SEED_NAMES", "Lookup", "find_codes"]

# the names the user's runbook tables use (seeds 000: Groq, LiteLLM, Kilo Code tables)
SEED_NAMES: Mapping[str, str] = {
    "groq-invalid-api-key": "invalid_api_key",
    "groq-rate-limit": "rate_limit",
    "groq-model-overload": "overloaded",
    "groq-context-length": "context_length_exceeded",
    "groq-invalid-model": "model_not_found",
    "litellm-config-error": "litellm_config_error",
    "litellm-no-models": "litellm_no_models",
    "litellm-auth-failed": "litellm_auth_failed",
    "litellm-port-in-use": "address_in_use",
    "kilo-model-unavailable": "model_unavailable",
    "kilo-rate-limit": "rate_limit",
}
# names that are not errno constants on every OS (getaddrinfo, Node.js, Winsock)
_OTHER_NAMES: Mapping[str, str] = {
    "ENOTFOUND": "dns_failure", "EAI_NONAME": "dns_failure", "EAI_NODATA": "dns_failure",
    "EAI_FAIL": "dns_failure", "EAI_AGAIN": "dns_temporary", "ESOCKETTIMEDOUT": "timeout_total",
    "WSAHOST_NOT_FOUND": "dns_failure", "WSATRY_AGAIN": "dns_temporary",
    "WSANO_RECOVERY": "dns_failure", "WSANO_DATA": "dns_failure",
    "ECERT": "tls_error", "CERTIFICATE_VERIFY_FAILED": "tls_error",
}
_WINSOCK = re.compile(r"^(?:\[?winerror\s*)?(1[01]\d{3})\]?$")
_NARROW = 12    # a message rule tied to at most this many statuses says something about one


@dataclass(frozen=True, slots=True)
class Lookup:
    codes: tuple[str, ...]
    how: str                         # "code", "runbook name", "HTTP status", "errno", ...
    suggestions: tuple[str, ...] = ()


_POSIX = ("ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "ENETRESET", "ECONNABORTED", "EPIPE",
          "ESHUTDOWN", "EPROTO", "EHOSTUNREACH", "EHOSTDOWN", "ENETUNREACH", "ENETDOWN",
          "EADDRINUSE", "EACCES")
_WSA = {10061: "WSAECONNREFUSED", 10060: "WSAETIMEDOUT", 10054: "WSAECONNRESET",
        10052: "WSAENETRESET", 10053: "WSAECONNABORTED", 10058: "WSAESHUTDOWN",
        10048: "WSAEADDRINUSE", 10013: "WSAEACCES", 10065: "WSAEHOSTUNREACH",
        10064: "WSAEHOSTDOWN", 10051: "WSAENETUNREACH", 10050: "WSAENETDOWN"}


def _errno_names() -> dict[str, str]:
    names = {name: ERRNO_TABLE[n] for name in _POSIX
             if (n := getattr(errno, name, None)) is not None and n in ERRNO_TABLE}
    names.update({name: ERRNO_TABLE[n] for n, name in _WSA.items()})
    return {**names, **_OTHER_NAMES}


_ERRNO_NAMES = _errno_names()


def _by_status(status: int) -> tuple[str, ...]:
    """What an upstream answering `status` is classified as, then the codes the gateway
    answers with `status`."""
    found: list[str] = []
    upstream = [STATUS_TABLE.get(status)] + [code for code, statuses, _ in MESSAGE_RULES
                                             if status in statuses and len(statuses) <= _NARROW]
    own = [code for code, row in REGISTRY.items() if row.http_status == status]
    for code in [*upstream[:1], *own, *upstream[1:]]:
        if code and code not in found:
            found.append(code)
    return tuple(found)


def find_codes(query: str) -> Lookup:
    """The registry codes `query` names; empty `codes` with suggestions when none."""
    text = query.strip()
    key = text.lower().replace("-", "_").replace(" ", "_")
    if key in REGISTRY:
        return Lookup((key,), "code")
    seed = SEED_NAMES.get(text.lower())
    if seed:
        return Lookup((seed,), "runbook name")
    if text.isdigit() and 100 <= int(text) <= 599:
        return Lookup(_by_status(int(text)), "HTTP status")
    winsock = _WINSOCK.match(text.lower().replace("_", " ").strip())
    if winsock and int(winsock.group(1)) in ERRNO_TABLE:
        return Lookup((ERRNO_TABLE[int(winsock.group(1))],), "Windows socket error")
    name = text.upper().strip("[]")
    if name in _ERRNO_NAMES:
        return Lookup((_ERRNO_NAMES[name],), "errno")
    return Lookup((), "", _suggest(text))


def _suggest(text: str) -> tuple[str, ...]:
    key = text.lower().replace("-", "_")
    pool = {**{c: c for c in REGISTRY}, **SEED_NAMES,
            **{n.lower(): c for n, c in _ERRNO_NAMES.items()}}
    near = difflib.get_close_matches(key, list(pool), n=5, cutoff=0.6)
    near += [c for c in REGISTRY if key and key in c and c not in near]
    seen: list[str] = []
    for name in near:
        shown = name if name in REGISTRY or name in SEED_NAMES else name.upper()
        if shown not in seen:
            seen.append(shown)
    return tuple(seen[:5])
