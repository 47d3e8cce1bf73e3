"""Reading rate-limit headers: Groq, OpenAI, OpenRouter, retry-after; choosing the window."""

from __future__ import annotations

import pytest

from provider_fallback.config import RateLimits
from provider_fallback.limits import Advertised, read_ratelimit_headers, window_for

WALL = 1_770_000_000.0

GROQ_HEADERS = {
    "X-RateLimit-Limit-Requests": "14400",
    "X-RateLimit-Limit-Tokens": "18000",
    "X-RateLimit-Remaining-Requests": "14370",
    "X-RateLimit-Remaining-Tokens": "17997",
    "X-RateLimit-Reset-Requests": "2m59.56s",
    "X-RateLimit-Reset-Tokens": "7.66s",
}


def test_groq_headers():
    seen = read_ratelimit_headers(GROQ_HEADERS, WALL)
    assert seen.requests == Advertised(14400, 14370, pytest.approx(179.56))
    assert seen.tokens == Advertised(18000, 17997, pytest.approx(7.66))
    assert seen.retry_after is None


@pytest.mark.parametrize(("text", "seconds"), [
    ("2m59.56s", 179.56), ("7.66s", 7.66), ("120ms", 0.12), ("1h2m3s", 3723.0), ("6m0s", 360.0),
    ("5", 5.0),
])
def test_reset_durations(text, seconds):
    seen = read_ratelimit_headers({"x-ratelimit-limit-tokens": "100",
                                   "x-ratelimit-reset-tokens": text}, WALL)
    assert seen.tokens is not None
    assert seen.tokens.reset_s == pytest.approx(seconds)


def test_openai_headers_with_ms_reset():
    seen = read_ratelimit_headers({
        "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "120ms", "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "149984", "x-ratelimit-reset-tokens": "6m0s"}, WALL)
    assert seen.requests == Advertised(60, 59, pytest.approx(0.12))
    assert seen.tokens == Advertised(150000, 149984, pytest.approx(360.0))


def test_openrouter_unsuffixed_headers_are_requests_with_unix_ms_reset():
    seen = read_ratelimit_headers({"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "3",
                                   "X-RateLimit-Reset": str(int((WALL + 42) * 1000))}, WALL)
    assert seen.requests == Advertised(20, 3, pytest.approx(42.0))
    assert seen.tokens is None


def test_reset_of_one_window_is_not_borrowed_by_the_other():
    seen = read_ratelimit_headers({"x-ratelimit-limit-tokens": "100",
                                   "x-ratelimit-reset-requests": "30s",
                                   "x-ratelimit-reset": str(int((WALL + 9) * 1000))}, WALL)
    assert seen.tokens == Advertised(100, None, None)


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"retry-after": "7"}, 7.0),
    ({"Retry-After-Ms": "1500"}, 1.5),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ({"retry-after": "Tue, 10 Feb 2026 12:00:30 GMT"}, 30.0),
])
def test_retry_after(headers, seconds):
    from datetime import UTC, datetime
    wall = datetime(2026, 2, 10, 12, tzinfo=UTC).timestamp()
    assert read_ratelimit_headers(headers, wall).retry_after == pytest.approx(seconds)


def test_garbage_and_fractional_counts():
    seen = read_ratelimit_headers({"x-ratelimit-limit-requests": "lots",
                                   "x-ratelimit-remaining-requests": "3.9",
                                   "x-ratelimit-remaining-tokens": "-5"}, WALL)
    assert seen.requests == Advertised(None, 3, None)   # floor, never more than advertised
    assert seen.tokens is None
    assert read_ratelimit_headers(None) == read_ratelimit_headers({})


def test_remaining_never_exceeds_limit():
    seen = read_ratelimit_headers({"x-ratelimit-limit-requests": "10",
                                   "x-ratelimit-remaining-requests": "12"}, WALL)
    assert seen.requests == Advertised(10, 10, None)


GROQ_70B = RateLimits(rpm=30, rpd=1000, tpm=12000, tpd=100000)
GROQ_CONVENTION = {"requests": "rpd", "tokens": "tpm"}


def test_window_by_exact_known_limit():
    assert window_for("requests", Advertised(1000, 999, 5.0), GROQ_70B) == "rpd"
    assert window_for("requests", Advertised(30, 29, 100.0), GROQ_70B) == "rpm"
    assert window_for("tokens", Advertised(12000, 1, 500.0), GROQ_70B) == "tpm"
    assert window_for("tokens", Advertised(100000, 1, 1.0), GROQ_70B) == "tpd"


def test_window_by_host_convention():
    # Groq: a few requests used of RPD 14400 -> a short reset, still the daily window
    assert window_for("requests", Advertised(14400, 14399, 6.0), None, GROQ_CONVENTION) == "rpd"
    assert window_for("tokens", Advertised(18000, 17000, 7.66), None, GROQ_CONVENTION) == "tpm"


def test_window_by_reset_duration_then_nearest_then_minute():
    assert window_for("requests", Advertised(500, 10, 3600.0)) == "rpd"
    assert window_for("requests", Advertised(500, 10, 2.0)) == "rpm"
    assert window_for("requests", Advertised(None, 0, None)) == "rpm"
    assert window_for("requests", Advertised(900, 5, 1.0), GROQ_70B) == "rpd"
    assert window_for("requests", Advertised(40, 5, 1.0), GROQ_70B) == "rpm"


@pytest.mark.parametrize("headers", [
    GROQ_HEADERS,
    {**GROQ_HEADERS, "Retry-After": "3"},                     # a retry-after: the full reading
    {**GROQ_HEADERS, "retry-after-ms": "1500"},
    {k: v for k, v in GROQ_HEADERS.items() if "Tokens" not in k},   # requests only
    {k: v for k, v in GROQ_HEADERS.items() if "Requests" not in k},  # tokens only
    {**GROQ_HEADERS, "X-RateLimit-Remaining-Requests": "99999"},     # more than the limit
    {**GROQ_HEADERS, "X-RateLimit-Limit-Requests": "lots", "X-RateLimit-Remaining-Requests": "x"},
    {**GROQ_HEADERS, "X-RateLimit-Reset-Tokens": "soon"},
    {"x-ratelimit-limit": "200", "x-ratelimit-remaining": "10", "x-ratelimit-reset": "1770000060000",
     "X-RateLimit-Limit-Tokens": "5", "X-RateLimit-Remaining-Tokens": "1"},
    {"anthropic-ratelimit-requests-remaining": "4", "anthropic-ratelimit-requests-limit": "50",
     "x-ratelimit-remaining-tokens": "7"},
    {"content-type": "application/json"},
])
def test_case_insensitive_headers_read_the_same_as_a_plain_mapping(headers):
    """The upstream pool's headers (a CIMultiDictProxy) take a direct path for the usual
    suffixed OpenAI/Groq shape; every shape reads exactly as the general path reads it."""
    from multidict import CIMultiDict, CIMultiDictProxy

    proxy = CIMultiDictProxy(CIMultiDict(headers))
    assert read_ratelimit_headers(proxy, WALL) == read_ratelimit_headers(dict(headers), WALL)
    # the memoised reset texts give the same answer the second time
    assert read_ratelimit_headers(proxy, WALL) == read_ratelimit_headers(dict(headers), WALL)
