"""classify_response: realistic error answers from Groq, OpenRouter, OpenAI, Anthropic, LiteLLM."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict

from provider_fallback.errors import REGISTRY, Fault, classify_response

GROQ_RPM = {"error": {
    "message": "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_x` "
               "service tier `on_demand` on requests per minute (RPM): Limit 30, Used 30, "
               "Requested 1. Please try again in 2s. Need more tokens? Upgrade to Dev Tier today "
               "at https://console.groq.com/settings/billing",
    "type": "requests", "code": "rate_limit_exceeded"}}
GROQ_TPM = {"error": {
    "message": "Rate limit reached for model `llama-3.1-8b-instant` in organization `org_x` service "
               "tier `on_demand` on tokens per minute (TPM): Limit 6000, Used 5800, Requested 912. "
               "Please try again in 7.12s.",
    "type": "tokens", "code": "rate_limit_exceeded"}}
GROQ_RPD = {"error": {
    "message": "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_x` service "
               "tier `on_demand` on requests per day (RPD): Limit 1000, Used 1000, Requested 1. "
               "Please try again in 1m26.4s.",
    "type": "requests", "code": "rate_limit_exceeded"}}
GROQ_TPD = {"error": {
    "message": "Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_x` service "
               "tier `on_demand` on tokens per day (TPD): Limit 100000, Used 99812, Requested 1204. "
               "Please try again in 15m36.3s.",
    "type": "tokens", "code": "rate_limit_exceeded"}}
GROQ_413 = {"error": {
    "message": "Request too large for model `llama-3.1-8b-instant` in organization `org_x` service tier "
               "`on_demand` on tokens per minute (TPM): Limit 6000, Requested 12034, please reduce "
               "your message size and try again.",
    "type": "tokens", "code": "rate_limit_exceeded"}}
GROQ_401 = {"error": {"message": "Invalid API Key", "type": "invalid_request_error",
                      "code": "invalid_api_key"}}
GROQ_DECOMMISSIONED = {"error": {
    "message": "The model `mixtral-8x7b-32768` has been decommissioned and is no longer supported. "
               "Please refer to https://console.groq.com/docs/deprecations for a recommendation on "
               "which model to use instead.",
    "type": "invalid_request_error", "code": "model_decommissioned"}}
GROQ_CONTEXT = {"error": {"message": "Please reduce the length of the messages or completion.",
                          "type": "invalid_request_error", "param": "messages",
                          "code": "context_length_exceeded"}}
GROQ_TOOL = {"error": {"message": "Failed to call a function. Please adjust your prompt. See "
                                  "'failed_generation' for more details.",
                       "type": "invalid_request_error", "code": "tool_use_failed",
                       "failed_generation": "<function=search>{\"q\": }"}}
GROQ_503 = {"error": {"message": "Service Unavailable", "type": "internal_server_error"}}
GROQ_OVER_CAPACITY = {"error": {"message": "llama-3.3-70b-versatile is currently over capacity. "
                                           "Please try again and back off exponentially.",
                                "type": "internal_server_error"}}
GROQ_URL = {"error": {"message": "Unknown request URL: POST /openai/v1/chat/completion. Please check "
                                 "the URL for typos, or see the docs at https://console.groq.com/docs/",
                      "type": "invalid_request_error", "code": "unknown_url"}}

OR_402 = {"error": {"code": 402, "message": "Insufficient credits. Add more using "
                                            "https://openrouter.ai/settings/credits"}}
OR_429 = {"error": {"message": "Provider returned error", "code": 429, "metadata": {
    "raw": "meta-llama/llama-3.3-70b-instruct:free is temporarily rate-limited upstream. Please "
           "retry shortly, or add your own key to accumulate your rate limits: "
           "https://openrouter.ai/settings/integrations",
    "provider_name": "Venice"}}, "user_id": "user_2x"}
OR_FREE_RPD = {"error": {"message": "Rate limit exceeded: free-models-per-day. Add 10 credits to "
                                    "unlock 1000 free model requests per day", "code": 429,
                         "metadata": {"headers": {"X-RateLimit-Limit": "50",
                                                  "X-RateLimit-Remaining": "0",
                                                  "X-RateLimit-Reset": "1767225600000"}}}}
OR_404 = {"error": {"message": "No endpoints found for meta-llama/llama-3.3-8b-instruct:free.",
                    "code": 404}, "user_id": "user_2x"}
OR_MODERATION = {"error": {"code": 403, "message": "meta-llama/llama-guard flagged your input as "
                                                   "violating content policies",
                           "metadata": {"reasons": ["violence", "hate"],
                                        "flagged_input": "how do I ...",
                                        "provider_name": "OpenAI", "model_slug": "openai/gpt-4o"}}}
OR_INVALID_MODEL = {"error": {"message": "foo/bar is not a valid model ID", "code": 400}}
OR_CONTEXT_RAW = {"error": {"message": "Provider returned error", "code": 400, "metadata": {
    "raw": json.dumps({"error": {"message": "This model's maximum context length is 8192 tokens.",
                                 "type": "invalid_request_error",
                                 "code": "context_length_exceeded"}}),
    "provider_name": "DeepInfra"}}}
OR_STREAM_ERROR = {"id": "gen-1", "object": "chat.completion.chunk",
                   "error": {"code": 429, "message": "Rate limit exceeded: free-models-per-min."}}

OA_QUOTA = {"error": {"message": "You exceeded your current quota, please check your plan and billing "
                                 "details. For more information on this error, read the docs: "
                                 "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                      "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
OA_CONTEXT = {"error": {"message": "This model's maximum context length is 128000 tokens. However, your "
                                   "messages resulted in 130512 tokens. Please reduce the length of "
                                   "the messages.", "type": "invalid_request_error",
                        "param": "messages", "code": "context_length_exceeded"}}
OA_MODEL = {"error": {"message": "The model `gpt-5x` does not exist or you do not have access to it.",
                      "type": "invalid_request_error", "param": None, "code": "model_not_found"}}
OA_KEY = {"error": {"message": "Incorrect API key provided: sk-proj-AbCdEf1234567890xyz. You can find "
                               "your API key at https://platform.openai.com/account/api-keys.",
                    "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
OA_FILTER = {"error": {"message": "Your request was rejected as a result of our safety system.",
                       "type": "invalid_request_error", "param": None,
                       "code": "content_policy_violation"}}
OA_500 = {"error": {"message": "The server had an error while processing your request. Sorry about "
                               "that!", "type": "server_error", "param": None, "code": None}}
OA_422 = {"error": {"message": "Invalid value for 'response_format'.", "type": "invalid_request_error",
                    "param": "response_format", "code": None}}
OA_409 = {"error": {"message": "Another process is using this resource.", "type": "invalid_request_error",
                    "param": None, "code": "conflict"}}

ANTHROPIC_529 = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
ANTHROPIC_CREDIT = {"type": "error", "error": {
    "type": "invalid_request_error",
    "message": "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
               "Billing to upgrade or purchase credits."}}
ANTHROPIC_413 = {"type": "error", "error": {"type": "request_too_large",
                                            "message": "Request exceeds the maximum allowed number of bytes."}}

LITELLM_AUTH = {"error": {"message": "Authentication Error, Invalid proxy server token passed. Received "
                                     "API Key = sk-...1234, Key Hash (Token) =e3b0c44298fc. Unable to "
                                     "find token in cache or `LiteLLM_VerificationTokenTable`",
                          "type": "auth_error", "param": "None", "code": "401"}}
LITELLM_UPSTREAM_AUTH = {"error": {"message": "litellm.AuthenticationError: AuthenticationError: "
                                              "GroqException - Invalid API Key. Received Model "
                                              "Group=groq-70b\nAvailable Model Group Fallbacks=None",
                                   "type": None, "param": None, "code": "401"}}
LITELLM_NO_DEPLOYMENTS = {"error": {"message": "No deployments available for selected model, Try again "
                                               "in 60 seconds. Passed model=groq-70b. pre-call-checks="
                                               "False, cooldown_list=[('a1b2', {'exception_received': "
                                               "'litellm.RateLimitError'})]",
                                    "type": "None", "param": "None", "code": "429"}}
LITELLM_BUDGET = {"error": {"message": "Budget has been exceeded! Current cost: 20.31, Max budget: 20.0",
                            "type": "budget_exceeded", "param": None, "code": "400"}}
LITELLM_BUDGET_MSG = {"error": {"message": "ExceededTokenBudget: Current spend for token: 5.1; Max "
                                           "Budget for Token: 5.0. Budget has been exceeded!",
                                "type": "None", "param": "None", "code": "400"}}
LITELLM_FALLBACKS = {"error": {"message": "litellm.RateLimitError: RateLimitError: GroqException - Rate "
                                         "limit reached. Received Model Group=groq-70b\nAvailable Model "
                                         "Group Fallbacks=['groq-8b']\nError doing the fallback: "
                                         "litellm.RateLimitError: GroqException - Rate limit reached",
                               "type": None, "param": None, "code": "429"}}
LITELLM_CONNECT = {"error": {"message": "litellm.APIConnectionError: GroqException - [Errno 11001] "
                                        "getaddrinfo failed", "type": None, "param": None,
                             "code": "500"}}
LITELLM_INVALID_MODEL = {"error": {"message": "/chat/completions: Invalid model name passed in model="
                                              "groq-7b. Call `/v1/models` to view available models "
                                              "for your key.", "type": "invalid_request_error",
                                   "param": "model", "code": "400"}}
LITELLM_CONFIG = {"error": {"message": "LLM Provider NOT provided. Pass in the LLM provider you are "
                                       "trying to call. You passed model=llama-3.3-70b-versatile",
                            "type": None, "param": None, "code": "400"}}
LITELLM_NO_MODELS = {"error": {"message": "No models configured on proxy", "type": "None",
                               "param": "None", "code": "500"}}
LITELLM_REDIS = {"error": {"message": "Could not connect to Redis at localhost:6379: Connection refused",
                           "type": "None", "param": "None", "code": "500"}}

HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
            b"Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n")

Row = tuple[str, int, dict[str, str], Any, str, float | None]
ROWS: list[Row] = [
    # id, status, headers, body, code, retry_after
    ("groq-429-rpm", 429, {"retry-after": "2", "x-ratelimit-reset-requests": "2m59.56s",
                           "x-ratelimit-reset-tokens": "7.66s"}, GROQ_RPM, "rate_limit_rpm", 2.0),
    ("groq-429-tpm", 429, {"x-ratelimit-reset-tokens": "7.66s"}, GROQ_TPM, "rate_limit_tpm", 7.12),
    ("groq-429-rpd", 429, {"retry-after": "87"}, GROQ_RPD, "rate_limit_rpd", 87.0),
    ("groq-429-tpd", 429, {}, GROQ_TPD, "rate_limit_tpd", 936.3),
    ("groq-413-tpm", 413, {}, GROQ_413, "request_too_large", None),
    ("groq-401", 401, {}, GROQ_401, "invalid_api_key", None),
    ("groq-400-decommissioned", 400, {}, GROQ_DECOMMISSIONED, "model_decommissioned", None),
    ("groq-400-context", 400, {}, GROQ_CONTEXT, "context_length_exceeded", None),
    ("groq-400-tool", 400, {}, GROQ_TOOL, "tool_call_failed", None),
    ("groq-503", 503, {"retry-after": "30"}, GROQ_503, "service_unavailable", 30.0),
    ("groq-503-over-capacity", 503, {}, GROQ_OVER_CAPACITY, "overloaded", None),
    ("groq-498-flex", 498, {}, {"error": {"message": "Flex tier capacity exceeded."}}, "overloaded", None),
    ("groq-404-url", 404, {}, GROQ_URL, "endpoint_not_found", None),
    ("openrouter-402", 402, {}, OR_402, "insufficient_quota", None),
    ("openrouter-429-upstream", 429, {}, OR_429, "rate_limit", None),
    ("openrouter-429-free-rpd", 429, {"X-RateLimit-Reset": "1700000090000"}, OR_FREE_RPD,
     "rate_limit_rpd", 90.0),
    ("openrouter-404-no-endpoints", 404, {}, OR_404, "model_unavailable", None),
    ("openrouter-403-moderation", 403, {}, OR_MODERATION, "content_policy", None),
    ("openrouter-400-invalid-model", 400, {}, OR_INVALID_MODEL, "model_not_found", None),
    ("openrouter-400-raw-context", 400, {}, OR_CONTEXT_RAW, "context_length_exceeded", None),
    ("openrouter-in-stream-429", 502, {}, OR_STREAM_ERROR, "rate_limit_rpm", None),
    ("openai-429-quota", 429, {}, OA_QUOTA, "insufficient_quota", None),
    ("openai-400-context", 400, {}, OA_CONTEXT, "context_length_exceeded", None),
    ("openai-404-model", 404, {}, OA_MODEL, "model_not_found", None),
    ("openai-401-key", 401, {}, OA_KEY, "invalid_api_key", None),
    ("openai-400-content", 400, {}, OA_FILTER, "content_policy", None),
    ("openai-500", 500, {}, OA_500, "server_error", None),
    ("openai-422", 422, {}, OA_422, "unprocessable_entity", None),
    ("openai-409", 409, {}, OA_409, "conflict", None),
    ("openai-503-retry-after-ms", 503, {"retry-after-ms": "1500"}, b"", "service_unavailable", 1.5),
    ("anthropic-529", 529, {"retry-after": "15"}, ANTHROPIC_529, "overloaded", 15.0),
    ("anthropic-400-credit", 400, {}, ANTHROPIC_CREDIT, "insufficient_quota", None),
    ("anthropic-413", 413, {}, ANTHROPIC_413, "request_too_large", None),
    ("litellm-401-proxy-key", 401, {}, LITELLM_AUTH, "litellm_auth_failed", None),
    ("litellm-401-upstream-key", 401, {}, LITELLM_UPSTREAM_AUTH, "invalid_api_key", None),
    ("litellm-429-no-deployments", 429, {}, LITELLM_NO_DEPLOYMENTS, "litellm_no_deployments", 60.0),
    ("litellm-400-budget", 400, {}, LITELLM_BUDGET, "litellm_budget_exceeded", None),
    ("litellm-400-budget-message", 400, {}, LITELLM_BUDGET_MSG, "litellm_budget_exceeded", None),
    ("litellm-429-fallbacks", 429, {}, LITELLM_FALLBACKS, "litellm_fallbacks_exhausted", None),
    ("litellm-500-upstream-connect", 500, {}, LITELLM_CONNECT, "bad_gateway", None),
    ("litellm-400-invalid-model", 400, {}, LITELLM_INVALID_MODEL, "model_not_found", None),
    ("litellm-400-config", 400, {}, LITELLM_CONFIG, "litellm_config_error", None),
    ("litellm-500-no-models", 500, {}, LITELLM_NO_MODELS, "litellm_no_models", None),
    ("litellm-500-redis", 500, {}, LITELLM_REDIS, "litellm_cache_error", None),
    ("html-502", 502, {"content-type": "text/html"}, HTML_502, "bad_gateway", None),
    ("empty-503", 503, {}, b"", "service_unavailable", None),
    ("none-504", 504, {}, None, "gateway_timeout", None),
    ("plain-400", 400, {}, "Bad Request: malformed JSON", "bad_request", None),
    ("plain-403", 403, {}, "Forbidden", "permission_denied", None),
    ("plain-404", 404, {}, "404 page not found", "model_not_found", None),
    ("plain-408", 408, {}, "Request Timeout", "request_timeout", None),
    ("plain-409", 409, {}, "", "conflict", None),
    ("plain-413", 413, {}, "<html><head><title>413 Request Entity Too Large</title></head></html>",
     "request_too_large", None),
    ("plain-422", 422, {}, b'{"detail": [{"loc": ["body", "messages"], "msg": "field required"}]}',
     "unprocessable_entity", None),
    ("plain-429", 429, {"Retry-After": "3"}, "Too Many Requests", "rate_limit", 3.0),
    ("plain-500-traceback", 500, {}, "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
     "    raise RuntimeError('rate limit context window moderation')\nRuntimeError: boom",
     "server_error", None),
    ("envoy-503", 503, {}, "upstream connect error or disconnect/reset before headers. reset reason: "
     "connection failure", "service_unavailable", None),
    ("cloudflare-524", 524, {}, "<!DOCTYPE html><html><head><title>api.example.com | 524: A timeout "
     "occurred</title></head></html>", "gateway_timeout", None),
    ("unknown-4xx", 418, {}, "I'm a teapot", "bad_request", None),
    ("unknown-5xx", 599, {}, "", "server_error", None),
    ("2xx-error-body", 200, {}, {"error": {"message": "something odd"}}, "unknown_error", None),
]

NOW = 1_700_000_000.0
STATUSES = {400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529}


@pytest.mark.parametrize(("status", "headers", "body", "code", "retry_after"),
                         [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_classify_response_table(status: int, headers: dict[str, str], body: Any, code: str,
                                 retry_after: float | None) -> None:
    failure = classify_response(status, headers, _as_bytes(body), provider="p", model="m", now=NOW)
    assert failure.code == code, failure.message
    assert failure.status == status
    assert (failure.provider, failure.model) == ("p", "m")
    if retry_after is None:
        assert failure.retry_after is None
    else:
        assert failure.retry_after == pytest.approx(retry_after)


def _as_bytes(body: Any) -> Any:
    return json.dumps(body).encode() if isinstance(body, dict) else body


def test_every_listed_status_has_a_row() -> None:
    assert STATUSES <= {r[1] for r in ROWS}


def test_every_row_code_is_registered() -> None:
    assert {r[4] for r in ROWS} <= set(REGISTRY)


@pytest.mark.parametrize("shape", ["bytes", "str", "dict"])
def test_body_shapes_agree(shape: str) -> None:
    body: Any = {"bytes": json.dumps(OA_QUOTA).encode(), "str": json.dumps(OA_QUOTA),
                 "dict": OA_QUOTA}[shape]
    assert classify_response(429, {}, body).code == "insufficient_quota"


def test_headers_are_case_insensitive_cimultidict() -> None:
    headers = CIMultiDict([("Retry-After", "4"), ("X-RateLimit-Reset-Requests", "2m59.56s")])
    failure = classify_response(429, headers, GROQ_RPM)
    assert failure.retry_after == 4.0
    no_retry_after = CIMultiDict([("X-RateLimit-Reset-Tokens", "7.66s")])
    assert classify_response(429, no_retry_after, {"error": {"message": "slow down", "type": "tokens",
                                                              "code": "rate_limit_exceeded"}}
                             ).retry_after == pytest.approx(7.66)


def test_rate_limit_reset_header_used_when_no_other_hint() -> None:
    body = {"error": {"message": "Rate limit reached on requests per minute (RPM)",
                      "type": "requests", "code": "rate_limit_exceeded"}}
    failure = classify_response(429, {"x-ratelimit-reset-requests": "2m59.56s"}, body)
    assert failure.code == "rate_limit_rpm"
    assert failure.retry_after == pytest.approx(179.56)


def test_retry_after_http_date() -> None:
    failure = classify_response(503, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}, b"")
    assert failure.retry_after is not None and failure.retry_after > 0


def test_messages_are_scrubbed_and_truncated() -> None:
    failure = classify_response(401, {}, OA_KEY)
    assert "sk-proj-AbCdEf" not in failure.message
    assert "Incorrect API key provided" in failure.message
    long = {"error": {"message": "x" * 5000 + " gsk_abcdefghijklmnop1234", "code": "bad"}}
    failure = classify_response(400, {}, long)
    assert len(failure.message) <= 500
    bearer = classify_response(401, {}, "Unauthorized: Bearer abc.def.ghi rejected")
    assert "abc.def.ghi" not in bearer.message


def test_openrouter_metadata_in_message_and_detail() -> None:
    failure = classify_response(429, {}, OR_429)
    assert "temporarily rate-limited upstream" in failure.message
    assert failure.detail["upstream_provider"] == "Venice"
    moderation = classify_response(403, {}, OR_MODERATION)
    assert moderation.detail["reasons"] == ["violence", "hate"]
    assert "how do I" not in moderation.message  # flagged user input never echoed


def test_html_page_message_is_its_title() -> None:
    assert classify_response(502, {}, HTML_502).message == "502 Bad Gateway"


def test_traceback_body_is_not_keyword_matched() -> None:
    body = "Traceback (most recent call last):\n  rate limit context window\nValueError: boom"
    assert classify_response(400, {}, body).code == "bad_request"


def test_upstream_fields_in_detail() -> None:
    failure = classify_response(429, {}, GROQ_RPM)
    assert failure.detail == {"upstream_code": "rate_limit_exceeded", "upstream_type": "requests"}


def test_policy_of_key_classifications() -> None:
    rpm = classify_response(429, {"retry-after": "2"}, GROQ_RPM).spec
    assert (rpm.retry_same, rpm.fallover, rpm.honours_retry_after, rpm.fault) == \
        (True, True, True, Fault.PROVIDER)
    context = classify_response(400, {}, OA_CONTEXT).spec
    assert (context.fault, context.fallover, context.cooldown_s) == (Fault.CALLER, True, 0.0)
    policy = classify_response(400, {}, OA_FILTER).spec
    assert (policy.fault, policy.fallover) == (Fault.CALLER, False)
