"""Circuit breaker transitions, as unit and property tests (no clock, no sleep)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provider_fallback.config import CircuitSettings
from provider_fallback.errors import REGISTRY, CircuitRule, Fault, OpenClass, Scope, Strike
from provider_fallback.errors import circuit_rule as rule_of
from provider_fallback.health import Breaker, CircuitState

S = CircuitSettings(failure_threshold=3, failure_rate=0.5, min_calls=10, window=60,
                    max_open=1800, multiplier=2, jitter=0.0)
TRANSIENT = CircuitRule(OpenClass.TRANSIENT, Strike.THRESHOLD)
ONE = CircuitRule(OpenClass.TRANSIENT, Strike.ONE_IF_ALTERNATIVE)
TIMER = CircuitRule(OpenClass.TRANSIENT, Strike.ONE_IF_ALTERNATIVE, timer=True)
HARD_NOW = CircuitRule(OpenClass.HARD, Strike.AT_ONCE)


def fresh(settings: CircuitSettings = S):
    b = Breaker(settings, rand=lambda: 0.5)
    return b, b.new("p/m")


def fail(b, c, now, rule=TRANSIENT, *, base=5.0, retry_after=None, alternatives=False,
         trial=False, generation=None):
    return b.on_failure(c, now, c.generation if generation is None else generation, rule=rule,
                        base=base, retry_after=retry_after, alternatives=alternatives,
                        trial=trial)


def test_opens_after_n_consecutive_failures():
    b, c = fresh()
    assert not fail(b, c, 100)
    assert not fail(b, c, 101)
    assert fail(b, c, 102)
    assert c.state is CircuitState.OPEN and c.open_until == 107 and c.generation == 1
    assert b.blocked(c, 104) == ("circuit_open", 107)


def test_one_strike_codes_open_at_once_only_when_another_target_can_serve():
    b, c = fresh()
    assert not fail(b, c, 100, ONE, alternatives=False)    # the last target standing
    assert c.consecutive == 1
    b2, c2 = fresh()
    assert fail(b2, c2, 100, ONE, alternatives=True)
    assert c2.open_until == 105


def test_success_resets_the_consecutive_count_and_the_rate_rule_still_trips():
    b, c = fresh()
    t = 100.0
    for t in range(100, 110):
        fail(b, c, t)
        fail(b, c, t + 0.1)
        if c.state is CircuitState.OPEN:
            break
        b.on_success(c, t + 0.2, c.generation, trial=False)
        assert c.consecutive == 0
    assert c.state is CircuitState.OPEN
    calls, failures, _ = c.window.totals(t + 0.1)
    assert calls >= 10 and failures / calls >= 0.5


def test_retry_after_sets_the_duration_exactly():
    b, c = fresh()
    assert fail(b, c, 100, HARD_NOW, base=60, retry_after=7.5)
    assert c.open_until == 107.5


def test_half_open_leases_exactly_one_trial_and_each_lease_is_a_generation():
    b, c = fresh()
    fail(b, c, 100, HARD_NOW, base=10)
    g_open = c.generation
    assert b.blocked(c, 105) is not None
    assert b.blocked(c, 110) is None
    assert b.take_trial(c, 110, lease=3)              # open -> half-open
    assert c.state is CircuitState.HALF_OPEN and c.generation == g_open + 1
    assert b.blocked(c, 110.1) == ("trial_in_flight", 113)
    assert b.blocked(c, 113.0) is None                # the lease expired, never reported
    assert not b.take_trial(c, 113, lease=3)          # a new trial, a new generation
    assert c.generation == g_open + 2
    # the first trial's late answer belongs to an older generation: statistics only
    assert not b.on_success(c, 114, g_open + 1, trial=True)
    assert c.state is CircuitState.HALF_OPEN
    assert b.on_success(c, 114, g_open + 2, trial=True)
    assert c.state is CircuitState.CLOSED


def test_a_late_success_of_an_older_generation_never_closes_an_open_circuit():
    b, c = fresh()
    admitted_at = c.generation                        # a request admitted while closed
    fail(b, c, 100, ONE, alternatives=True)           # meanwhile another one opens it
    assert not b.on_success(c, 100.01, admitted_at, trial=False)
    assert c.state is CircuitState.OPEN
    calls, failures, _ = c.window.totals(100.01)
    assert (calls, failures) == (2, 1)                # but its statistics count


@pytest.mark.parametrize(("rule", "expected"), [
    (TIMER, [5, 10, 20, 40, 60, 60, 60]),    # a timeout: every trial costs the wait again
    (ONE, [5, 10, 10, 10, 10, 10, 10]),      # a 503 at once: cheap to try, back within 10 s
])
def test_transient_open_periods_double_per_reopen_and_cap(rule, expected):
    b, c = fresh()
    fail(b, c, 100, rule, alternatives=True)
    periods = [c.open_until - 100]
    now = c.open_until
    for _ in range(6):
        b.take_trial(c, now, lease=1)
        assert fail(b, c, now, rule, trial=True)
        periods.append(c.open_until - now)
        now = c.open_until
    assert periods == expected
    b.take_trial(c, now, lease=1)
    assert b.on_success(c, now, c.generation, trial=True)


def test_reopen_within_the_decay_window_keeps_growing_and_decays_after():
    b, c = fresh()
    fail(b, c, 100, ONE, alternatives=True)
    b.take_trial(c, 105, lease=1)
    b.on_success(c, 105, c.generation, trial=True)   # closed at 105
    fail(b, c, 106, ONE, alternatives=True)          # flapping: a re-open
    assert c.reopens == 1 and c.open_until == 116
    b.take_trial(c, 116, lease=1)
    b.on_success(c, 116, c.generation, trial=True)
    fail(b, c, 116 + 60, ONE, alternatives=True)     # closed a whole reopen_decay: starts over
    assert c.reopens == 0 and c.open_until == 181


def test_hard_failures_keep_their_long_cooldowns():
    b, _ = fresh()
    assert b.duration(HARD_NOW, 1800, 0, None) == 1800
    assert b.duration(HARD_NOW, 30, 10, None) == 1800
    assert b.duration(HARD_NOW, 3600, 3, None) == 3600  # a 402's hour is not cut
    assert b.duration(TIMER, 5, 10, None) == 60           # each trial costs a timeout
    assert b.duration(TRANSIENT, 5, 10, None) == 10       # a fast failure is cheap to retry
    assert b.duration(TRANSIENT, 120, 0, None) == 120  # configured cooldown wins


def test_jitter_stays_within_bounds_and_never_shortens_the_period():
    lo = Breaker(CircuitSettings(jitter=0.1), rand=lambda: 0.0).duration(HARD_NOW, 100, 0, None)
    hi = Breaker(CircuitSettings(jitter=0.1), rand=lambda: 1.0).duration(HARD_NOW, 100, 0, None)
    assert lo == pytest.approx(100) and hi == pytest.approx(110)
    # a 5 s transient period never ends before 5 s (seen: 4.56 s, so a trial 4.8 s into a
    # 6 s outage failed and re-opened the circuit for 10 s)
    assert Breaker(CircuitSettings(jitter=0.1), rand=lambda: 0.0).duration(
        TRANSIENT, 5, 0, None) >= 5


def test_a_probe_moves_open_to_half_open_never_to_closed():
    b, c = fresh()
    fail(b, c, 100, HARD_NOW, base=600)
    reopens = c.reopens
    assert b.probe_half_open(c, 101)
    assert c.state is CircuitState.HALF_OPEN and c.reopens == reopens
    assert b.blocked(c, 101) is None                  # the next request is the trial
    assert not b.probe_half_open(c, 102)


def test_every_code_that_can_open_a_circuit_has_a_rule_of_its_own():
    from provider_fallback.errors import CIRCUIT_RULES
    for code, sp in REGISTRY.items():
        if sp.fault is Fault.CALLER or sp.scope is Scope.NONE:
            assert rule_of(sp) is None, code
        else:
            assert code in CIRCUIT_RULES, f"{code}: no open-period class / strike in _circuits.py"
    assert set(CIRCUIT_RULES) <= set(REGISTRY)


# -- properties over random interleavings -------------------------------------------------
ops = st.lists(st.one_of(
    st.tuples(st.just("admit"), st.floats(0.5, 5)),
    st.tuples(st.just("report"), st.integers(0, 30), st.booleans(),
              st.sampled_from([TRANSIENT, ONE, TIMER, HARD_NOW]), st.booleans()),
    st.tuples(st.just("probe")),
    st.tuples(st.just("tick"), st.floats(0, 40)),
), max_size=120)


@settings(max_examples=400, deadline=None)
@given(ops)
def test_property_trials_generations_and_growth(seq):
    s = CircuitSettings(failure_threshold=3, jitter=0.0, max_open=1800)
    b = Breaker(s, rand=lambda: 0.5)
    c = b.new("p/m")
    now = 1000.0
    admissions: list[tuple[int, bool, float]] = []   # (generation, trial, lease end)
    done: set[int] = set()
    for op in seq:
        before = (c.state, c.generation, c.open_until, c.reopens, c.trial_until, c.closed_at)
        if op[0] == "tick":
            now += op[1]
            continue
        if op[0] == "probe":
            b.probe_half_open(c, now)
            assert c.state is not CircuitState.CLOSED or before[0] is CircuitState.CLOSED
            assert c.reopens == before[3]
            continue
        if op[0] == "admit":
            if b.blocked(c, now) is not None:
                continue
            if c.state is CircuitState.CLOSED:
                admissions.append((c.generation, False, 0.0))
                continue
            live = [i for i, (_, trial, until) in enumerate(admissions)
                    if trial and i not in done and until > now]
            assert not live, "two half-open trials at once"
            b.take_trial(c, now, op[1])
            admissions.append((c.generation, True, now + op[1]))
            continue
        _, idx, ok, rule, alternatives = op
        if not admissions:
            continue
        idx %= len(admissions)
        gen, trial, _ = admissions[idx]
        done.add(idx)
        if ok:
            b.on_success(c, now, gen, trial=trial)
        else:
            fail(b, c, now, rule, alternatives=alternatives, trial=trial, generation=gen)
        after = (c.state, c.generation, c.open_until, c.reopens, c.trial_until, c.closed_at)
        if gen != before[1]:
            assert after == before, "an outcome of an older generation changed the state"
            continue
        if before[0] is not CircuitState.CLOSED and c.state is CircuitState.CLOSED:
            assert ok and trial and before[0] is CircuitState.HALF_OPEN, \
                "an open circuit closed without its trial"
        if c.state is CircuitState.OPEN and c.generation != before[1]:
            if before[0] is CircuitState.HALF_OPEN:
                assert c.reopens == before[3] + 1
            else:
                recent = before[5] > 0 and now - before[5] < s.reopen_decay
                assert c.reopens == (before[3] + 1 if recent else 0)
            if rule.open_class is OpenClass.TRANSIENT:
                cap = s.transient_max_open if rule.timer else s.fast_max_open
                expected = min(cap, 5.0 * 2 ** c.reopens)
            else:
                expected = min(s.max_open, 5.0 * 2 ** c.reopens)
            assert c.open_until - now == pytest.approx(expected)


def _walked_totals(w, now):
    """What the window holds over its span, summed bucket by bucket (the reference)."""
    oldest = int(now / (w.span / 10)) - 10 + 1
    picked = [i for i in range(10) if w.epochs[i] >= oldest]
    return (sum(w.calls[i] for i in picked), sum(w.failures[i] for i in picked),
            sum(w.slow[i] for i in picked))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "totals"]), st.floats(0, 30),
                          st.booleans(), st.booleans()), max_size=80))
def test_window_totals_kept_between_reads_equal_the_walked_sums(ops):
    """`totals` keeps its sums for the bucket they were taken in and `add` moves them on:
    whatever the order of adds and reads, and time steps of any size (within a bucket,
    across several, past the whole span), they equal the buckets summed afresh."""
    from provider_fallback.health import RollingWindow

    w = RollingWindow(60.0)
    now = 0.0
    for op, step, failed, slow in ops:
        now += step
        if op == "add":
            w.add(now, failed=failed, slow=slow)
        else:
            assert w.totals(now) == _walked_totals(w, now)
    assert w.totals(now) == _walked_totals(w, now)
