"""HealthTracker over random interleavings of admissions, reports of any generation, probes
and clock steps (memory state, injected clock; nothing is sent anywhere)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provider_fallback import config_from_dict
from provider_fallback.errors import Failure, OpenClass, circuit_rule, spec
from provider_fallback.health import Admission, HealthTracker, Outcome
from provider_fallback.health._breaker import CircuitState
from provider_fallback.state import MemoryState
from provider_fallback.telemetry import EventBus

CODES = ["service_unavailable", "server_error", "stream_cut", "timeout_total", "overloaded",
         "rate_limit", "invalid_api_key", "connection_refused", "bad_request",
         "model_not_found"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(coro: Any) -> Any:
    """Drive a coroutine that never really waits (memory state) to its result."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the memory state made admit wait")


def tracker(clock: Clock) -> HealthTracker:
    cfg = config_from_dict({
        "providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1"},
                      {"name": "b", "base_url": "http://127.0.0.1:9/v1"}],
        "models": {"chat": ["p/m", "b/m"]},
        "health": {"enabled": False},
        "circuit": {"jitter": 0},
    }, environ={})
    return HealthTracker(cfg, MemoryState(), EventBus(), clock=clock, rand=lambda: 0.5)


def snapshot(t: HealthTracker) -> dict[str, tuple[Any, ...]]:
    out = {}
    for key in ("p", "p/m", "b", "b/m"):
        c = t.state.circuit(key)
        out[key] = (None if c is None else
                    (c.state, c.generation, c.open_until, c.reopens, c.trial_until))
    return out


ops = st.lists(st.one_of(
    st.tuples(st.just("admit"), st.integers(0, 1), st.floats(0.5, 10)),
    st.tuples(st.just("report"), st.integers(0, 40), st.booleans(), st.sampled_from(CODES),
              st.booleans(), st.sampled_from([None, 3.0])),
    st.tuples(st.just("release"), st.integers(0, 40)),
    st.tuples(st.just("probe"), st.sampled_from(["quick", "full", "validate"]), st.booleans()),
    st.tuples(st.just("tick"), st.floats(0, 30)),
), max_size=100)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_property_open_circuits_close_only_through_their_trial(seq):
    clock = Clock()
    t = tracker(clock)
    chain = t.config.chains["chat"]
    admissions: list[tuple[Admission, float]] = []
    finished: set[int] = set()
    for op in seq:
        now = clock.now
        before = snapshot(t)
        kind = op[0]
        if kind == "tick":
            clock.now += op[1]
            continue
        if kind == "admit":
            target = chain.targets[op[1]]
            got = run(t.admit(target, now, op[2]))
            if isinstance(got, Admission):
                for key in got.trial:
                    live = [i for i, (a, until) in enumerate(admissions)
                            if key in a.trial and i not in finished and until > now]
                    assert not live, f"two trials of {key} at once"
                admissions.append((got, now + op[2]))
            else:
                assert t.blocked(target, now) is not None or got.reason == "trial_in_flight"
            continue
        if kind == "probe":
            t.on_probe("p", op[1], ok=op[2], code=None if op[2] else "service_unavailable",
                       ms=1.0, started=now)
            after = snapshot(t)
            for key, was in before.items():
                now_is = after[key]
                if was is not None and was[0] is not CircuitState.CLOSED:
                    assert now_is[0] is not CircuitState.CLOSED, "a probe closed a circuit"
                    assert now_is[3] == was[3], "a probe undid the growth of the open period"
            continue
        if not admissions:
            continue
        idx = op[1] % len(admissions)
        adm, _ = admissions[idx]
        finished.add(idx)
        if kind == "release":
            t.release(adm, now)
            continue
        _, _, ok, code, alternatives, retry_after = op
        failure = None if ok else Failure(spec(code), provider=adm.target.provider.name,
                                          model=adm.target.model, retry_after=retry_after)
        t.report(adm, Outcome(ok, failure, 1.0), now, alternatives=alternatives)
        after = snapshot(t)
        gens = dict(adm.generations)
        for key, was in before.items():
            now_is = after[key]
            if was is None:
                continue
            if gens.get(key, -1) != was[1] and key in gens:
                assert now_is == was, f"an outcome of an older generation changed {key}"
            if was[0] is not CircuitState.CLOSED and now_is[0] is CircuitState.CLOSED:
                assert ok and key in adm.trial and not adm.bypass, f"{key} closed without its trial"
            if was[0] is CircuitState.HALF_OPEN and now_is[0] is CircuitState.OPEN:
                assert now_is[3] == was[3] + 1
            if now_is[0] is CircuitState.OPEN and now_is[1] != was[1] and failure is not None:
                rule = circuit_rule(spec(t.state.circuit(key).code))
                if retry_after is not None and failure.spec.honours_retry_after:
                    assert now_is[2] - now == pytest.approx(retry_after)
                elif rule is not None and rule.open_class is OpenClass.TRANSIENT:
                    assert now_is[2] - now == pytest.approx(min(60.0, 5.0 * 2 ** now_is[3]))


def test_one_strike_needs_an_available_alternative_and_bypass_is_statistics_only():
    clock = Clock()
    t = tracker(clock)
    primary, backup = t.config.chains["chat"].targets
    failure = Failure(spec("service_unavailable"), provider="p", model="m")
    adm = run(t.admit(primary, clock.now, 5))
    t.report(adm, Outcome(False, failure), clock.now, alternatives=True)
    assert t.blocked(primary, clock.now).reason == "circuit_open"
    # the backup is the last target standing: one 503 does not open it
    bfail = Failure(spec("service_unavailable"), provider="b", model="m")
    adm = run(t.admit(backup, clock.now, 5))
    t.report(adm, Outcome(False, bfail), clock.now, alternatives=False)
    assert t.blocked(backup, clock.now) is None
    # everything blocked: the bypass attempt's success does not close the primary
    bypass = run(t.admit(primary, clock.now, 5, bypass=True))
    assert bypass.bypass and bypass.note.startswith("bypass")
    t.report(bypass, Outcome(True, total_ms=3.0), clock.now, alternatives=False)
    assert t.state.circuit("p/m").state is CircuitState.OPEN
    assert t.state.stats("p/m").successes == 1


def test_a_ping_that_answered_all_along_does_not_cut_the_open_period_of_503ing_completions():
    clock = Clock()
    t = tracker(clock)
    primary = t.config.chains["chat"].targets[0]
    failure = Failure(spec("service_unavailable"), provider="p", model="m")
    run_report(t, primary, failure, clock.now)
    until = t.state.circuit("p/m").open_until
    clock.now += 1
    t.on_probe("p", "quick", ok=True, code=None, ms=1.0)
    assert t.state.circuit("p/m").state is CircuitState.OPEN
    assert t.state.circuit("p/m").open_until == until
    # the ping failed during the outage too: its success now is news
    t.on_probe("p", "quick", ok=False, code="service_unavailable", ms=1.0)
    clock.now += 1
    t.on_probe("p", "quick", ok=True, code=None, ms=1.0, started=clock.now)
    assert t.state.circuit("p/m").state is CircuitState.HALF_OPEN


def run_report(t: HealthTracker, target: Any, failure: Failure, now: float) -> None:
    adm = run(t.admit(target, now, 5))
    t.report(adm, Outcome(False, failure), now, alternatives=True)
