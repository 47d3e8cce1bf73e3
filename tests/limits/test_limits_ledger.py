"""RateLedger: sliding minute windows, UTC days, learned limits, 429 blocks, settling."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from limits_support import OTHER, target

from provider_fallback.config import RateLimits
from provider_fallback.limits import RateLedger

GROQ_70B_HEADERS = {
    "x-ratelimit-limit-requests": "1000", "x-ratelimit-remaining-requests": "990",
    "x-ratelimit-reset-requests": "2m0s",
    "x-ratelimit-limit-tokens": "12000", "x-ratelimit-remaining-tokens": "11000",
    "x-ratelimit-reset-tokens": "7.5s",
}


def fill(ledger, t, count, tokens, now):
    for _ in range(count):
        ledger.settle(ledger.reserve(t, tokens, now), tokens, now)


def test_rpm_fills_then_slides(ledger, clocks):
    t = target(limits=RateLimits(rpm=3))
    now = clocks.advance(0.25)
    for _ in range(3):
        assert ledger.admits(t, 10, now) is None
        ledger.reserve(t, 10, now)
    wait = ledger.admits(t, 10, now)
    # the first bucket leaves only once all of it is 60 s old: never under-count
    assert wait is not None and 60.0 <= wait <= 61.0
    assert ledger.admits(t, 10, clocks.advance(59.9)) is not None
    assert ledger.admits(t, 10, clocks.advance(wait - 59.9)) is None


def test_minute_wait_is_the_earliest_bucket_that_frees_enough(ledger, clocks):
    t = target("m", OTHER, RateLimits(tpm=100))
    fill(ledger, t, 1, 40, clocks.mono)          # second 1000
    fill(ledger, t, 1, 40, clocks.advance(10))   # second 1010
    fill(ledger, t, 1, 20, clocks.advance(10))   # second 1020
    now = clocks.mono
    assert ledger.admits(t, 30, now) == pytest.approx(1000 + 61 - now)
    assert ledger.admits(t, 70, now) == pytest.approx(1010 + 61 - now)
    assert ledger.admits(t, 101, now) == math.inf    # larger than the whole window


def test_tpm_uses_reserved_estimate_until_settled(ledger, clocks):
    t = target("m", OTHER, RateLimits(tpm=1000))
    res = ledger.reserve(t, 900, clocks.mono)
    assert ledger.admits(t, 200, clocks.mono) is not None   # in flight counts
    ledger.settle(res, 100, clocks.advance(1))
    assert ledger.admits(t, 200, clocks.mono) is None
    assert ledger.view(t, clocks.mono)["tpm"]["used"] == 100
    ledger.settle(res, 5000, clocks.mono)   # a second settle is ignored
    assert ledger.view(t, clocks.mono)["tpm"]["used"] == 100


def test_failed_attempt_keeps_the_request_but_not_tokens(ledger, clocks):
    t = target("m", OTHER, RateLimits(rpm=10, tpm=1000))
    ledger.settle(ledger.reserve(t, 500, clocks.mono), 0, clocks.mono)
    view = ledger.view(t, clocks.mono)
    assert (view["rpm"]["used"], view["tpm"]["used"]) == (1, 0)
    ledger.settle(ledger.reserve(t, 500, clocks.mono), None, clocks.mono)  # unknown: keep
    assert ledger.view(t, clocks.mono)["tpm"]["used"] == 500


def test_settle_after_the_bucket_left_counts_extra_tokens_now(ledger, clocks):
    t = target("m", OTHER, RateLimits(tpm=1000))
    res = ledger.reserve(t, 100, clocks.mono)
    clocks.advance(90)                       # a long stream
    ledger.settle(res, 400, clocks.mono)
    assert ledger.view(t, clocks.mono)["tpm"]["used"] == 300


def test_daily_window_resets_at_utc_midnight(ledger, clocks):
    t = target("m", OTHER, RateLimits(rpd=2, tpd=10_000))
    fill(ledger, t, 2, 10, clocks.mono)
    wait = ledger.admits(t, 10, clocks.mono)
    assert wait == pytest.approx(12 * 3600)      # NOON -> midnight
    assert ledger.view(t, clocks.mono)["rpd"]["reset_in_s"] == pytest.approx(12 * 3600)
    clocks.advance(12 * 3600 - 1)
    assert ledger.admits(t, 10, clocks.mono) is not None
    clocks.advance(1)
    assert datetime.fromtimestamp(clocks.wall, UTC).hour == 0
    assert ledger.admits(t, 10, clocks.mono) is None
    assert ledger.view(t, clocks.mono)["rpd"]["used"] == 0


def test_daily_window_resets_at_advertised_reset(ledger, clocks):
    t = target("llama-3.3-70b-versatile", limits=RateLimits(rpd=5))
    fill(ledger, t, 5, 10, clocks.mono)
    ledger.learn(t, {"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "0",
                     "x-ratelimit-reset-requests": "10m0s"}, clocks.mono)
    assert ledger.view(t, clocks.mono)["rpd"]["source"] == "learned"
    assert ledger.admits(t, 10, clocks.mono) == pytest.approx(600)
    clocks.advance(600)
    assert ledger.admits(t, 10, clocks.mono) is None
    view = ledger.view(t, clocks.mono)["rpd"]
    assert (view["used"], view["source"]) == (0, "config")


def test_learned_overrides_config_then_expires(ledger, clocks):
    t = target(limits=RateLimits(rpm=30, rpd=1000, tpm=12000, tpd=100000))
    seen = ledger.learn(t, GROQ_70B_HEADERS, clocks.mono)
    assert seen.tokens is not None and seen.tokens.remaining == 11000
    view = ledger.view(t, clocks.mono)
    assert view["tpm"] == {"limit": 12000, "used": 1000, "remaining": 11000,
                           "reset_in_s": pytest.approx(7.5), "source": "learned"}
    assert view["rpd"]["remaining"] == 990 and view["rpd"]["source"] == "learned"
    assert view["rpm"]["source"] == view["tpd"]["source"] == "config"
    assert ledger.admits(t, 11001, clocks.mono) == pytest.approx(7.5)
    assert ledger.admits(t, 11000, clocks.mono) is None
    clocks.advance(7.5)
    assert ledger.view(t, clocks.mono)["tpm"]["source"] == "config"
    assert ledger.admits(t, 11001, clocks.mono) is None


def test_learned_limit_wins_even_when_larger_or_smaller(ledger, clocks):
    t = target("m", OTHER, RateLimits(rpm=100))
    ledger.learn(t, {"x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "2",
                     "x-ratelimit-reset-requests": "20s"}, clocks.mono)
    fill(ledger, t, 2, 1, clocks.mono)
    assert ledger.admits(t, 1, clocks.mono) == pytest.approx(20)
    clocks.advance(20)
    assert ledger.admits(t, 1, clocks.mono) is None      # back to the configured 100


def test_remaining_zero_blocks_until_reset_even_without_a_limit(ledger, clocks):
    t = target("m", OTHER)                                 # nothing configured or shipped
    assert ledger.admits(t, 10**9, clocks.mono) is None    # unknown limits: admit
    ledger.learn(t, {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "3s"},
                 clocks.mono)
    assert ledger.admits(t, 1, clocks.mono) == pytest.approx(3)
    assert ledger.admits(t, 1, clocks.advance(3)) is None


def test_learned_remaining_shrinks_with_requests_sent_since(ledger, clocks):
    t = target("m", OTHER)
    in_flight = ledger.reserve(t, 10, clocks.mono)
    ledger.learn(t, {"x-ratelimit-limit": "20", "x-ratelimit-remaining": "2",
                     "x-ratelimit-reset": str(int((clocks.wall + 30) * 1000))}, clocks.mono)
    # the in-flight request may not be counted by the provider yet: count it against `2`
    assert ledger.admits(t, 1, clocks.mono) is None
    ledger.reserve(t, 10, clocks.mono)
    assert ledger.admits(t, 1, clocks.mono) == pytest.approx(30, abs=1)
    ledger.settle(in_flight, 5, clocks.mono)
    assert ledger.view(t, clocks.mono)["rpm"]["remaining"] == 0


def test_groq_headers_map_to_rpd_and_tpm(ledger, clocks):
    t = target("llama-3.1-8b-instant")
    ledger.learn(t, {"x-ratelimit-limit-requests": "14400",
                     "x-ratelimit-remaining-requests": "14399",
                     "x-ratelimit-reset-requests": "6s",
                     "x-ratelimit-limit-tokens": "6000", "x-ratelimit-remaining-tokens": "0",
                     "x-ratelimit-reset-tokens": "9.5s"}, clocks.mono)
    view = ledger.view(t, clocks.mono)
    assert view["rpd"]["source"] == view["tpm"]["source"] == "learned"
    assert view["rpm"]["source"] == view["tpd"]["source"] == "default"
    assert ledger.admits(t, 1, clocks.mono) == pytest.approx(9.5)


def test_on_429_blocks_for_retry_after_or_learned_reset(ledger, clocks):
    t = target("m", OTHER)
    assert ledger.on_429(t, 4.0, clocks.mono) == 4.0
    assert ledger.admits(t, 1, clocks.mono) == pytest.approx(4.0)
    assert ledger.view(t, clocks.mono)["blocked_s"] == pytest.approx(4.0)
    assert ledger.admits(t, 1, clocks.advance(4)) is None
    ledger.learn(t, {"x-ratelimit-remaining-requests": "0",
                     "x-ratelimit-reset-requests": "12s"}, clocks.mono)
    assert ledger.on_429(t, None, clocks.mono) == pytest.approx(12)
    other = target("n", OTHER)
    assert ledger.on_429(other, None, clocks.mono) == 5.0     # nothing known: the default


def test_retry_after_header_blocks_through_learn(ledger, clocks):
    t = target("m", OTHER)
    ledger.learn(t, {"retry-after-ms": "1500"}, clocks.mono)
    assert ledger.admits(t, 1, clocks.mono) == pytest.approx(1.5)


def test_time_going_backwards_is_still_counted(ledger, clocks):
    t = target("m", OTHER, RateLimits(rpm=1))
    ledger.reserve(t, 1, clocks.mono)
    assert ledger.admits(t, 1, clocks.mono - 5) is not None


def test_new_target_object_with_same_key_keeps_counts_and_takes_new_limits(ledger, clocks):
    old = target("m", OTHER, RateLimits(rpm=1))
    ledger.reserve(old, 1, clocks.mono)
    new = target("m", OTHER, RateLimits(rpm=2))
    assert ledger.admits(new, 1, clocks.mono) is None
    assert ledger.view(new, clocks.mono)["rpm"]["used"] == 1
    ledger.forget(new)
    assert ledger.view(new, clocks.mono)["rpm"]["used"] == 0


def test_ledger_memory_is_bounded(clocks):
    ledger = RateLedger(wall=clocks)
    t = target("m", OTHER, RateLimits(rpm=10**9))
    for _ in range(5000):
        ledger.settle(ledger.reserve(t, 1, clocks.mono), 1, clocks.advance(0.7))
    st = ledger._states[t.key]
    assert len(st.ring[0]) == len(st.ring[1]) == 61


def test_learned_windows_lapse_each_at_its_own_reset_and_a_later_lesson_holds(ledger, clocks):
    """The ledger looks for lapsed windows only once the soonest learned reset has passed:
    each window still lapses at its own reset, and one learned after others with a sooner
    reset than theirs lapses at its own time too."""
    t = target(limits=RateLimits(rpm=30, rpd=1000, tpm=12000, tpd=100000))
    ledger.learn(t, GROQ_70B_HEADERS, clocks.mono)          # tokens 7.5 s, requests 2 min
    clocks.advance(7.5)
    view = ledger.view(t, clocks.mono)
    assert view["tpm"]["source"] == "config" and view["rpd"]["source"] == "learned"
    ledger.learn(t, {"x-ratelimit-limit-tokens": "500", "x-ratelimit-remaining-tokens": "400",
                     "x-ratelimit-reset-tokens": "2s"}, clocks.mono)
    assert ledger.admits(t, 401, clocks.mono) == pytest.approx(2)
    clocks.advance(2)
    assert ledger.admits(t, 401, clocks.mono) is None       # the 2 s lesson lapsed
    assert ledger.view(t, clocks.mono)["rpd"]["source"] == "learned"
    clocks.advance(120 - 9.5)
    assert ledger.view(t, clocks.mono)["rpd"]["source"] == "config"
