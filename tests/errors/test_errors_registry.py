"""The registry is data: every row complete, codes unique, router defaults encoded."""

from __future__ import annotations

import re

import pytest

from provider_fallback.errors import REGISTRY, ErrorSpec, Fault, Scope, Shell, spec
from provider_fallback.errors._registry import CATEGORIES, SPECS

SEED_CODES = {
    # HTTP table, connection errno table, Groq, LiteLLM, Kilo/OpenRouter (seeds 000/002/003)
    "bad_request", "invalid_api_key", "permission_denied", "model_not_found", "rate_limit",
    "server_error", "bad_gateway", "service_unavailable", "gateway_timeout",
    "connection_refused", "connect_timeout", "dns_failure", "connection_reset", "broken_pipe",
    "tls_error", "host_unreachable", "network_unreachable", "address_in_use", "connection_aborted",
    "dns_temporary", "access_denied_socket", "overloaded", "context_length_exceeded",
    "content_policy", "insufficient_quota", "stream_cut", "tool_call_failed",
    "rate_limit_rpm", "rate_limit_rpd", "rate_limit_tpm", "rate_limit_tpd",
    "litellm_config_error", "litellm_no_models", "litellm_auth_failed", "litellm_no_deployments",
    "litellm_fallbacks_exhausted", "litellm_budget_exceeded", "litellm_cache_error",
    "model_unavailable", "model_decommissioned",
}
GATEWAY_CODES = {
    "all_providers_failed", "config_error", "gateway_error", "queue_full", "budget_exceeded",
    "unknown_error", "unauthorized", "invalid_request", "model_not_configured", "request_too_large",
    "conflict", "unprocessable_entity", "request_timeout", "timeout_connect", "timeout_first_token",
    "timeout_total", "stream_stalled", "stream_malformed_chunk", "stream_missing_done", "proxy_error",
    # codes other modules already raise
    "malformed_response", "invalid_json", "not_found", "method_not_allowed",
}


def test_codes_unique_and_indexed() -> None:
    codes = [s.code for s in SPECS]
    assert len(codes) == len(set(codes))
    assert set(REGISTRY) == set(codes)


def test_required_codes_present() -> None:
    assert (SEED_CODES | GATEWAY_CODES) <= set(REGISTRY)


@pytest.mark.parametrize("row", SPECS, ids=lambda s: s.code)
def test_row_is_complete(row: ErrorSpec) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9_]*", row.code)
    assert row.category in CATEGORIES
    assert isinstance(row.fault, Fault) and isinstance(row.scope, Scope)
    assert row.summary.strip() and "\n" not in row.summary
    assert row.resolution and all(row.steps(shell=shell) for shell in Shell)
    assert 400 <= row.http_status < 600
    assert row.cooldown_s >= 0
    # A cooldown needs something to apply to, and vice versa.
    assert (row.cooldown_s == 0) == (row.scope is Scope.NONE)


def test_spec_never_raises() -> None:
    assert spec("rate_limit_rpm").code == "rate_limit_rpm"
    assert spec("no_such_code").code == "unknown_error"
    assert spec("").code == "unknown_error"


def test_rate_limits() -> None:
    for code in ("rate_limit", "rate_limit_rpm", "rate_limit_rpd", "rate_limit_tpm", "rate_limit_tpd"):
        s = REGISTRY[code]
        assert (s.category, s.fault, s.retry_same, s.fallover, s.scope, s.honours_retry_after,
                s.http_status) == ("rate_limit", Fault.PROVIDER, True, True, Scope.TARGET, True, 429)
        assert s.cooldown_s == (3600 if code in ("rate_limit_rpd", "rate_limit_tpd") else 60)


def test_server_errors() -> None:
    s = REGISTRY["server_error"]
    assert (s.retry_same, s.fallover, s.cooldown_s, s.scope) == (True, True, 30, Scope.TARGET)
    for code in ("bad_gateway", "service_unavailable", "gateway_timeout", "overloaded"):
        s = REGISTRY[code]
        assert (s.retry_same, s.fallover, s.honours_retry_after) == (False, True, True)
        assert 30 <= s.cooldown_s <= 60


@pytest.mark.parametrize("code", ["connection_refused", "connect_timeout", "dns_failure",
                                  "dns_temporary", "connection_reset", "connection_aborted",
                                  "broken_pipe", "tls_error", "host_unreachable",
                                  "network_unreachable", "access_denied_socket", "proxy_error"])
def test_connection_errors(code: str) -> None:
    s = REGISTRY[code]
    assert (s.fault, s.retry_same, s.fallover, s.scope) == (Fault.NETWORK, False, True, Scope.PROVIDER)
    assert 30 <= s.cooldown_s <= 60


def test_address_in_use_is_the_gateways_own() -> None:
    s = REGISTRY["address_in_use"]
    assert (s.fault, s.scope, s.cooldown_s) == (Fault.GATEWAY, Scope.NONE, 0)


def test_auth_quota_model() -> None:
    for code, status in (("invalid_api_key", 401), ("permission_denied", 403)):
        s = REGISTRY[code]
        assert (s.retry_same, s.fallover, s.cooldown_s, s.scope, s.http_status) == \
            (False, True, 1800, Scope.PROVIDER, status)
    q = REGISTRY["insufficient_quota"]
    assert (q.cooldown_s, q.scope, q.http_status) == (3600, Scope.PROVIDER, 402)
    for code in ("model_not_found", "model_decommissioned"):
        s = REGISTRY[code]
        assert (s.fallover, s.cooldown_s, s.scope) == (True, 600, Scope.TARGET)
    u = REGISTRY["model_unavailable"]
    assert (u.fallover, u.cooldown_s, u.scope) == (True, 120, Scope.TARGET)


def test_caller_errors() -> None:
    c = REGISTRY["context_length_exceeded"]
    assert (c.fault, c.retry_same, c.fallover, c.cooldown_s, c.scope, c.http_status) == \
        (Fault.CALLER, False, True, 0, Scope.NONE, 400)
    p = REGISTRY["content_policy"]
    assert (p.fault, p.retry_same, p.fallover, p.cooldown_s, p.http_status) == \
        (Fault.CALLER, False, False, 0, 400)
    for code, status in (("bad_request", 400), ("conflict", 409), ("unprocessable_entity", 422),
                         ("invalid_request", 400), ("model_not_configured", 404),
                         ("unauthorized", 401)):
        s = REGISTRY[code]
        assert (s.fault, s.retry_same, s.fallover, s.cooldown_s, s.scope, s.http_status) == \
            (Fault.CALLER, False, False, 0, Scope.NONE, status)


def test_streams_and_timeouts() -> None:
    for code in ("stream_cut", "stream_stalled", "stream_malformed_chunk", "stream_missing_done"):
        s = REGISTRY[code]
        assert (s.category, s.fallover, s.cooldown_s, s.http_status) == ("stream", True, 30, 502)
        assert s.fault in (Fault.PROVIDER, Fault.NETWORK)
    for code in ("timeout_connect", "timeout_first_token", "timeout_total", "request_timeout"):
        s = REGISTRY[code]
        assert (s.retry_same, s.fallover, s.cooldown_s) == (False, True, 30)


def test_gateway_rows() -> None:
    statuses = {c: REGISTRY[c].http_status for c in
                ("all_providers_failed", "config_error", "gateway_error", "queue_full",
                 "budget_exceeded", "unknown_error", "unauthorized")}
    assert statuses == {"all_providers_failed": 503, "config_error": 500, "gateway_error": 500,
                        "queue_full": 429, "budget_exceeded": 402, "unknown_error": 502,
                        "unauthorized": 401}
    u = REGISTRY["unknown_error"]
    assert (u.fault, u.fallover, u.cooldown_s) == (Fault.PROVIDER, True, 30)


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        REGISTRY["x"] = REGISTRY["unknown_error"]  # type: ignore[index]
