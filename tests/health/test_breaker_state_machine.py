"""Circuit breaker transitions, as unit and property tests (no clock, no sleep)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provider_fallback.config import CircuitSettings
from provider_fallback.health import Breaker, CircuitState

S = CircuitSettings(failure_threshold=3, failure_rate=0.5, min_calls=10, window=60,
                    max_open=1800, multiplier=2, jitter=0.0)


def fresh(settings: CircuitSettings = S):
    b = Breaker(settings, rand=lambda: 0.5)
    return b, b.new("p/m")


def test_opens_after_n_consecutive_failures():
    b, c = fresh()
    assert not b.on_failure(c, 0, base=30, retry_after=None, immediate=False)
    assert not b.on_failure(c, 1, base=30, retry_after=None, immediate=False)
    assert b.on_failure(c, 2, base=30, retry_after=None, immediate=False)
    assert c.state is CircuitState.OPEN and c.open_until == 32
    assert b.admit(c, 10, lease=5) == "open"


def test_success_resets_the_consecutive_count():
    b, c = fresh()
    for t in range(10):
        b.on_failure(c, t, base=30, retry_after=None, immediate=False)
        b.on_failure(c, t + 0.1, base=30, retry_after=None, immediate=False)
        if c.state is CircuitState.OPEN:
            break
        b.on_success(c, t + 0.2)
        assert c.consecutive == 0
    # 2 failures / 3 calls repeatedly: the *rate* rule trips once there are >= 10 calls
    assert c.state is CircuitState.OPEN
    calls, failures, _ = c.window.totals(t + 0.1)
    assert calls >= 10 and failures / calls >= 0.5


def test_failure_rate_needs_min_calls():
    b, c = fresh()
    for t in range(4):
        b.on_failure(c, t, base=30, retry_after=None, immediate=False)
        b.on_success(c, t + 0.5)
    assert c.state is CircuitState.CLOSED  # 50% of 8 calls: below min_calls


def test_immediate_and_retry_after_sets_duration_exactly():
    b, c = fresh()
    assert b.on_failure(c, 100, base=60, retry_after=7.5, immediate=True)
    assert c.open_until == 107.5


def test_half_open_leases_exactly_one_trial():
    b, c = fresh()
    b.on_failure(c, 0, base=10, retry_after=None, immediate=True)
    assert b.admit(c, 5, lease=3) == "open"
    assert b.admit(c, 10, lease=3) == "trial"
    assert c.state is CircuitState.HALF_OPEN
    assert b.admit(c, 10.1, lease=3) == "open"   # trial in flight: nobody else
    assert b.admit(c, 12.9, lease=3) == "open"
    assert b.admit(c, 13.0, lease=3) == "trial"  # lease expired (trial never reported): next one


def test_trial_success_closes_and_failure_reopens_longer():
    b, c = fresh()
    b.on_failure(c, 0, base=10, retry_after=None, immediate=True)
    b.admit(c, 10, lease=3)
    assert b.on_failure(c, 10.5, base=10, retry_after=None, immediate=False)
    assert c.state is CircuitState.OPEN and c.reopens == 1 and c.open_until == 30.5
    b.admit(c, 31, lease=3)
    b.on_failure(c, 31, base=10, retry_after=None, immediate=False)
    assert c.open_until == 31 + 40
    b.admit(c, 72, lease=3)
    assert b.on_success(c, 72.5)
    assert c.state is CircuitState.CLOSED and c.reopens == 0


def test_open_period_caps_at_max_open_but_not_below_base():
    b, _ = fresh()
    assert b.duration(30, 10, None) == 1800
    assert b.duration(3600, 0, None) == 3600  # a 402's hour is not cut to 30 min
    assert b.duration(3600, 3, None) == 3600


def test_jitter_stays_within_bounds():
    lo = Breaker(CircuitSettings(jitter=0.1), rand=lambda: 0.0).duration(100, 0, None)
    hi = Breaker(CircuitSettings(jitter=0.1), rand=lambda: 1.0).duration(100, 0, None)
    assert lo == pytest.approx(90) and hi == pytest.approx(110)


def test_expire_now_moves_open_period_to_now():
    b, c = fresh()
    b.on_failure(c, 0, base=600, retry_after=None, immediate=True)
    assert b.expire_now(c, 5)
    assert b.admit(c, 5, lease=2) == "trial"


events = st.lists(st.tuples(st.sampled_from(["fail", "ok", "admit", "immediate"]),
                            st.floats(min_value=0, max_value=5)), max_size=80)


@settings(max_examples=300, deadline=None)
@given(events)
def test_property_never_two_trials_and_durations_bounded(seq):
    b, c = fresh(CircuitSettings(jitter=0.1, max_open=1800))
    now = 0.0
    in_flight_until = 0.0
    for kind, dt in seq:
        now += dt
        if kind == "admit":
            verdict = b.admit(c, now, lease=2)
            if verdict == "trial":
                assert in_flight_until <= now, "two half-open trials at once"
                in_flight_until = now + 2
        elif kind == "ok":
            b.on_success(c, now)
            in_flight_until = 0.0
        else:
            if b.on_failure(c, now, base=30, retry_after=None, immediate=kind == "immediate"):
                assert 0 < c.open_until - now <= 1800 * 1.1
            in_flight_until = 0.0
        assert c.state in CircuitState


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=200))
def test_property_closed_circuit_admits_everything(n):
    b, c = fresh()
    for i in range(n):
        assert b.admit(c, float(i), lease=1) is None
        b.on_success(c, float(i))
