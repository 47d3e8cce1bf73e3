"""How a failure opens a circuit, as data: its open-period class and how many strikes it takes.

A second table beside the registry rows (one entry per code that can open a circuit, keyed
by code), so the rows themselves stay as they are. The breaker reads it; it never matches
strings.

- **class** (`OpenClass`): *transient* failures (overload and server errors, 500/502/503/
  504/529, stream cuts and stalls, timeouts, a refused or reset connection) open for
  `circuit.transient_open` (5 s), doubling per consecutive re-open up to
  `circuit.transient_max_open` (60 s) for failures that made the client wait for a timer
  (timeouts, stalls: every trial costs that wait again), up to `circuit.fast_max_open`
  (10 s) for those that answered at once (a trial costs nothing noticeable, so a recovered
  target is used again within 10 s); *hard* failures (auth, quota, model not found, a
  wrong base URL, a TLS or DNS misconfiguration) keep their registry cooldown (30 min for a
  401), doubling up to `circuit.max_open`; *rate limits* open for the advertised reset
  (Retry-After / x-ratelimit-reset-*), else for their registry cooldown.
- **strike** (`Strike`): *at once* when the provider said it plainly (429, 401/403, 402,
  404 model, a refused connection, a name that does not resolve); *one if alternative* when
  the failure costs the client a full timeout or a broken answer (a timeout, a 503 or 529,
  a cut or stalled stream): the first one opens the circuit when another target of the
  chain can serve, otherwise `circuit.failure_threshold` in a row do (seeds' cooldown
  matrix: "fallback immediately"); *threshold* for the rest (a 500 is retried once first).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ._types import ErrorSpec, Fault, Scope

__all__ = ["CIRCUIT_RULES", "CircuitRule", "OpenClass", "Strike", "circuit_rule"]


class OpenClass(enum.StrEnum):
    """Which open-period table a failure uses."""

    TRANSIENT = "transient"     # short, doubling, capped at circuit.transient_max_open
    HARD = "hard"               # the registry cooldown, doubling, capped at circuit.max_open
    RATE_LIMIT = "rate_limit"   # the advertised reset; the registry cooldown if none


class Strike(enum.StrEnum):
    """How many failures in a row open a closed circuit."""

    AT_ONCE = "at_once"                        # the first, always
    ONE_IF_ALTERNATIVE = "one_if_alternative"  # the first if another target is available
    THRESHOLD = "threshold"                    # circuit.failure_threshold (or the failure rate)


@dataclass(frozen=True, slots=True)
class CircuitRule:
    open_class: OpenClass
    strike: Strike
    # the failure kept the client waiting for a timer (a timeout, a stall): each trial of the
    # target costs that wait again, so a transient one grows to `transient_max_open`; one
    # that answered at once (a 503, a refused connection, a cut) is cheap to try again and
    # is capped at `fast_max_open`, so a recovered target is back within that long
    timer: bool = False


TR, HD, RL = OpenClass.TRANSIENT, OpenClass.HARD, OpenClass.RATE_LIMIT
NOW, ONE, THR = Strike.AT_ONCE, Strike.ONE_IF_ALTERNATIVE, Strike.THRESHOLD

# fmt: off
_RULES: dict[str, tuple[OpenClass, Strike]] = {
    # rate limits: the provider said when to come back
    "rate_limit": (RL, NOW), "rate_limit_rpm": (RL, NOW), "rate_limit_rpd": (RL, NOW),
    "rate_limit_tpm": (RL, NOW), "rate_limit_tpd": (RL, NOW),
    # quota, auth, model: nothing changes by itself soon
    "insufficient_quota": (HD, NOW), "litellm_budget_exceeded": (HD, NOW),
    "invalid_api_key": (HD, NOW), "permission_denied": (HD, NOW),
    "litellm_auth_failed": (HD, NOW),
    "model_not_found": (HD, NOW), "model_decommissioned": (HD, NOW),
    "model_unavailable": (HD, NOW), "endpoint_not_found": (HD, NOW),
    # upstream server errors and overload
    "server_error": (TR, THR), "bad_gateway": (TR, THR), "malformed_response": (TR, THR),
    "unknown_error": (TR, THR),
    "service_unavailable": (TR, ONE), "overloaded": (TR, ONE),
    # timeouts: each one cost the client a full timeout
    "gateway_timeout": (TR, ONE), "request_timeout": (TR, ONE), "timeout_connect": (TR, ONE),
    "timeout_first_token": (TR, ONE), "timeout_total": (TR, ONE), "connect_timeout": (TR, ONE),
    # connections: refused / unresolvable say it plainly; resets may be one glitch
    "connection_refused": (TR, NOW), "host_unreachable": (TR, NOW),
    "network_unreachable": (TR, NOW), "dns_failure": (HD, NOW),
    "dns_temporary": (TR, THR), "connection_reset": (TR, THR), "connection_aborted": (TR, THR),
    "broken_pipe": (TR, THR), "connection_error": (TR, THR), "proxy_error": (TR, THR),
    "tls_error": (HD, THR), "access_denied_socket": (HD, THR),
    # streams: a cut or stalled stream is a broken answer
    "stream_cut": (TR, ONE), "stream_stalled": (TR, ONE), "stream_malformed_chunk": (TR, ONE),
    "stream_missing_done": (TR, ONE), "stream_unfinished": (TR, ONE),
    "stream_error_event": (TR, ONE), "stream_invalid_tool_call": (TR, THR),
    # an upstream LiteLLM proxy
    "litellm_no_deployments": (TR, ONE), "litellm_fallbacks_exhausted": (TR, ONE),
    "litellm_cache_error": (TR, THR),
    "litellm_no_models": (HD, NOW), "litellm_config_error": (HD, NOW),
}
# fmt: on

_TIMERS = frozenset({"gateway_timeout", "request_timeout", "timeout_connect", "timeout_first_token",
                     "timeout_total", "connect_timeout", "stream_stalled"})
CIRCUIT_RULES: Mapping[str, CircuitRule] = MappingProxyType(
    {code: CircuitRule(cls, strike, code in _TIMERS) for code, (cls, strike) in _RULES.items()})
_DEFAULT = CircuitRule(OpenClass.TRANSIENT, Strike.THRESHOLD)


def circuit_rule(sp: ErrorSpec) -> CircuitRule | None:
    """How `sp` opens a circuit; None if it never does (the caller's fault, or no scope)."""
    if sp.fault is Fault.CALLER or sp.scope is Scope.NONE:
        return None
    return CIRCUIT_RULES.get(sp.code, _DEFAULT)
