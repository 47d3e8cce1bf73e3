"""RateLedger between replicas: facts one replica learned, adopted by another, and the
other replicas' use counted in admission (what `state: {backend: redis}` exchanges)."""

from __future__ import annotations

import pytest
from limits_support import OTHER, Clocks, target

from provider_fallback.config import RateLimits
from provider_fallback.limits import LimitFacts, RateLedger

EXHAUSTED = {"x-ratelimit-limit-requests": "30", "x-ratelimit-remaining-requests": "0",
             "x-ratelimit-reset-requests": "20s"}


@pytest.fixture
def pair() -> tuple[RateLedger, RateLedger, Clocks]:
    clocks = Clocks()
    return RateLedger(wall=clocks), RateLedger(wall=clocks), clocks


def test_a_retry_after_seen_by_one_replica_blocks_the_other(pair):
    a, b, clocks = pair
    t = target()
    now = clocks.mono
    a.on_429(t, 12.0, now)
    facts = a.facts(t, now)
    assert facts.blocked_s == pytest.approx(12.0)
    assert b.admits(t, 10, now) is None
    b.adopt(t, facts, now)
    wait = b.admits(t, 10, now)
    assert wait == pytest.approx(12.0)
    assert b.admits(t, 10, clocks.advance(12.01)) is None


def test_an_exhausted_window_is_held_back_until_its_reset(pair):
    a, b, clocks = pair
    t = target(spec=OTHER)
    now = clocks.mono
    a.learn(t, EXHAUSTED, now)
    facts = a.facts(t, now)
    assert facts.windows[0] == (30, True, pytest.approx(20.0))
    b.adopt(t, facts, now)
    assert b.admits(t, 10, now) == pytest.approx(20.0)
    assert b.view(t, now)["rpm"]["source"] == "learned"
    assert b.admits(t, 10, clocks.advance(20.01)) is None


def test_a_learned_limit_reaches_a_replica_that_knew_none(pair):
    a, b, clocks = pair
    t = target(model="unknown-model", spec=OTHER)   # generic headers: requests per minute
    now = clocks.mono
    assert b.rpm_limit(t, now) is None
    a.learn(t, {"x-ratelimit-limit-requests": "30", "x-ratelimit-remaining-requests": "29",
                "x-ratelimit-reset-requests": "2s"}, now)
    b.adopt(t, a.facts(t, now), now)
    assert b.rpm_limit(t, now) == 30
    assert b.admits(t, 10, now) is None   # a limit, not a block


def test_what_a_replica_learned_itself_is_not_loosened(pair):
    a, b, clocks = pair
    t = target(spec=OTHER)
    now = clocks.mono
    b.learn(t, {**EXHAUSTED, "x-ratelimit-reset-requests": "40s"}, now)
    a.learn(t, EXHAUSTED, now)            # resets sooner
    b.adopt(t, a.facts(t, now), now)
    assert b.admits(t, 10, now) == pytest.approx(40.0)


def test_facts_of_a_target_with_nothing_learned_say_nothing(pair):
    a, _, clocks = pair
    assert a.facts(target(), clocks.mono) == LimitFacts(0.0, (None, None, None, None))


def test_other_replicas_use_counts_against_a_shared_limit(pair):
    a, b, clocks = pair
    t = target(limits=RateLimits(rpm=10, tpm=1000))
    now = clocks.advance(0.5)
    for _ in range(4):
        a.settle(a.reserve(t, 100, now), 100, now)
    used = dict(a.usage(now))[t.key]
    assert used == (4, 4, 400, 400)
    b.set_others(t, used, now)
    for _ in range(6):
        assert b.admits(t, 10, now) is None
        b.reserve(t, 10, now)
    wait = b.admits(t, 10, now)
    assert wait is not None and 59.0 < wait <= 61.0   # b's own requests free the room
    assert b.view(t, now)["rpm"]["used"] == 10
    assert b.peers_using() == [t]


def test_when_only_other_replicas_fill_a_window_the_wait_is_a_recheck(pair):
    _, b, clocks = pair
    t = target(limits=RateLimits(rpm=10))
    now = clocks.mono
    b.set_others(t, (10, 10, 0, 0), now)
    assert b.admits(t, 10, now) == pytest.approx(1.0)
    b.set_others(t, (0, 0, 0, 0), now)   # their minute passed
    assert b.admits(t, 10, now) is None
    assert b.peers_using() == []


def test_tokens_of_other_replicas_count_against_tpm(pair):
    _, b, clocks = pair
    t = target(limits=RateLimits(tpm=6000))
    now = clocks.mono
    b.set_others(t, (3, 3, 5500, 5500), now)
    assert b.admits(t, 400, now) is None
    assert b.admits(t, 600, now) is not None
