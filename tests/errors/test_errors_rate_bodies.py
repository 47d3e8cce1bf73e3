"""Real 429 bodies from each provider: what the body alone says about the rate limit.

Each row is a body as the provider sends it (keys and ids replaced), with no rate-limit
headers, so everything asserted comes from the body: the registry code, the wait
(`retry_after`, which sets the cooldown) and the window facts the ledger learns.
"""

from __future__ import annotations

import json

import pytest

from provider_fallback.errors import RateFact, classify_response

NOW = 1_764_626_400.0          # 2025-12-01 22:00:00 UTC
MIDNIGHT_MS = "1764633600000"  # 2025-12-02 00:00:00 UTC, 2 h later
NEXT_MIN_MS = "1764626460000"  # 60 s later

GROQ_TPM = {"error": {
    "message": "Rate limit reached for model `llama-3.3-70b-versatile` in organization "
               "`org_01hxyz` service tier `on_demand` on tokens per minute (TPM): Limit 12000, "
               "Used 11795, Requested 1037. Please try again in 4.16s. Need more tokens? "
               "Upgrade to Dev Tier today at https://console.groq.com/settings/billing",
    "type": "tokens", "code": "rate_limit_exceeded"}}
GROQ_RPD = {"error": {
    "message": "Rate limit reached for model `llama-3.3-70b-versatile` in organization "
               "`org_01hxyz` service tier `on_demand` on requests per day (RPD): Limit 1000, "
               "Used 1000, Requested 1. Please try again in 1m26.4s. Need more tokens? "
               "Upgrade to Dev Tier today at https://console.groq.com/settings/billing",
    "type": "requests", "code": "rate_limit_exceeded"}}
GROQ_RPM = {"error": {
    "message": "Rate limit reached for model `llama-3.1-8b-instant` in organization `org_01hxyz` "
               "service tier `on_demand` on requests per minute (RPM): Limit 30, Used 30, "
               "Requested 1. Please try again in 2s.",
    "type": "requests", "code": "rate_limit_exceeded"}}
OPENAI_RPM = {"error": {
    "message": "Rate limit reached for gpt-4o-mini in organization org-abc123 on requests per "
               "min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
               "https://platform.openai.com/account/rate-limits to learn more.",
    "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
OPENAI_TPM_MS = {"error": {
    "message": "Rate limit reached for gpt-4o in organization org-abc123 on tokens per min "
               "(TPM): Limit 30000, Used 29950, Requested 120. Please try again in 140ms. Visit "
               "https://platform.openai.com/account/rate-limits to learn more.",
    "type": "tokens", "param": None, "code": "rate_limit_exceeded"}}
OPENROUTER_PER_MIN = {"error": {
    "message": "Rate limit exceeded: free-models-per-min. ", "code": 429,
    "metadata": {"headers": {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0",
                             "X-RateLimit-Reset": NEXT_MIN_MS}, "provider_name": None}},
    "user_id": "user_2abc"}
OPENROUTER_PER_DAY = {"error": {
    "message": "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free "
               "model requests per day", "code": 429,
    "metadata": {"headers": {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0",
                             "X-RateLimit-Reset": MIDNIGHT_MS}, "provider_name": None}},
    "user_id": "user_2abc"}
OPENROUTER_UPSTREAM = {"error": {
    "message": "Provider returned error", "code": 429,
    "metadata": {"raw": "meta-llama/llama-3.3-70b-instruct:free is temporarily rate-limited "
                        "upstream. Please retry shortly, or add your own key to accumulate "
                        "your rate limits: https://openrouter.ai/settings/integrations",
                 "provider_name": "Venice"}}, "user_id": "user_2abc"}
GEMINI_PER_MINUTE = [{"error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. "
               "For more information on this error, head to: "
               "https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for "
               "metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, "
               "limit: 10\nPlease retry in 27.93s.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
            "quotaValue": "10"}]},
        {"@type": "type.googleapis.com/google.rpc.Help",
         "links": [{"description": "Learn more", "url": "https://ai.google.dev/gemini-api/docs"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"}]}}]
GEMINI_PER_DAY = [{"error": {
    "code": 429, "message": "You exceeded your current quota, please check your plan and "
                            "billing details.", "status": "RESOURCE_EXHAUSTED",
    "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaValue": "250"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3600s"}]}}]
KILO_PROMOTION = {"error": {"code": "PROMOTION_MODEL_LIMIT_REACHED",
                            "message": "Sign up for free to continue and explore 500 other "
                                       "models. Or come back later."}}
LITELLM_WRAPPING_GROQ = {"error": {
    "message": "litellm.RateLimitError: RateLimitError: GroqException - {\"error\":{\"message\":"
               "\"Rate limit reached for model `llama-3.3-70b-versatile` in organization "
               "`org_01hxyz` service tier `on_demand` on tokens per minute (TPM): Limit 12000, "
               "Used 12000, Requested 800. Please try again in 4s.\",\"type\":\"tokens\","
               "\"code\":\"rate_limit_exceeded\"}}\nReceived Model Group=groq-70b\n"
               "Available Model Group Fallbacks=None",
    "type": None, "param": None, "code": "429"}}
DAILY_CAP_WORDS_ONLY = {"error": {"message": "Rate limit exceeded: free-models-per-day",
                                  "code": 429}}

CASES = [
    # provider, body, code, retry_after, facts
    ("groq", GROQ_TPM, "rate_limit_tpm", 4.16,
     (RateFact("tokens", "tpm", 12000, 205, 4.16),)),
    ("groq", GROQ_RPD, "rate_limit_rpd", 86.4,
     (RateFact("requests", "rpd", 1000, 0, 86.4),)),
    ("groq", GROQ_RPM, "rate_limit_rpm", 2.0,
     (RateFact("requests", "rpm", 30, 0, 2.0),)),
    ("openai", OPENAI_RPM, "rate_limit_rpm", 20.0,
     (RateFact("requests", "rpm", 3, 0, 20.0),)),
    ("openai", OPENAI_TPM_MS, "rate_limit_tpm", 0.14,
     (RateFact("tokens", "tpm", 30000, 50, 0.14),)),
    ("openrouter", OPENROUTER_PER_MIN, "rate_limit_rpm", 60.0,
     (RateFact("requests", "rpm", 20, 0, 60.0),)),
    ("openrouter", OPENROUTER_PER_DAY, "rate_limit_rpd", 7200.0,
     (RateFact("requests", "rpd", 50, 0, 7200.0),)),
    ("openrouter", OPENROUTER_UPSTREAM, "rate_limit", None, ()),
    ("gemini", GEMINI_PER_MINUTE, "rate_limit_rpm", 27.93,
     (RateFact("requests", "rpm", 10, 0, 27.0),)),
    ("gemini", GEMINI_PER_DAY, "rate_limit_rpd", 3600.0,
     (RateFact("requests", "rpd", 250, 0, 3600.0),)),
    ("kilo", KILO_PROMOTION, "rate_limit", None, ()),
    ("litellm", LITELLM_WRAPPING_GROQ, "rate_limit_tpm", 4.0,
     (RateFact("tokens", "tpm", 12000, 0, 4.0),)),
    ("openrouter", DAILY_CAP_WORDS_ONLY, "rate_limit_rpd", None,
     (RateFact("requests", "rpd", None, 0, None),)),
]


@pytest.mark.parametrize(("provider", "body", "code", "retry_after", "facts"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_429_bodies(provider, body, code, retry_after, facts):
    failure = classify_response(429, {}, json.dumps(body).encode(), provider=provider, now=NOW)
    assert failure.code == code
    assert failure.retry_after == pytest.approx(retry_after)
    assert failure.rate_facts == pytest.approx(facts) if facts else failure.rate_facts == ()
