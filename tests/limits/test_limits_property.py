"""Property: whatever the sequence of reserve/settle/learn/advance, an admitted request
never takes any window past its limit (checked against an exact recount)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from limits_support import OTHER, Clocks, target

from provider_fallback.config import RateLimits
from provider_fallback.limits import RateLedger

DAY = 86_400


@dataclass
class Sent:
    mono: float
    day: int
    tokens: int


ops = st.lists(st.one_of(
    st.tuples(st.just("send"), st.integers(0, 120)),
    st.tuples(st.just("settle"), st.integers(0, 50), st.one_of(st.none(), st.floats(0, 1))),
    st.tuples(st.just("advance"), st.one_of(
        st.floats(0, 3), st.floats(0, 70), st.floats(0, 50_000),
        st.sampled_from([0.25, 0.5, 0.75, 59.25, 59.5, 59.75, 60.0]))),   # bucket edges
    # resets <= 60 s: per-minute windows. A learned *daily* reset deliberately trusts the
    # provider over the UTC day (see test_daily_window_resets_at_advertised_reset).
    st.tuples(st.just("learn"), st.integers(0, 4), st.floats(0.5, 60)),
), max_size=120)

limits_st = st.builds(RateLimits, rpm=st.one_of(st.none(), st.integers(1, 6)),
                      rpd=st.one_of(st.none(), st.integers(1, 25)),
                      tpm=st.one_of(st.none(), st.integers(10, 150)),
                      tpd=st.one_of(st.none(), st.integers(20, 400)))


@settings(max_examples=300, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(limits=limits_st, program=ops, start=st.floats(0, DAY))
# a request late in a second must stay counted a full 60 s
@example(limits=RateLimits(rpm=1), start=0.0,
         program=[("advance", 0.25), ("send", 1), ("advance", 59.75), ("send", 1)])
def test_never_admits_past_a_limit(limits, program, start):
    clocks = Clocks(wall=1_770_000_000.0 - 1_770_000_000.0 % DAY + start)
    ledger = RateLedger(wall=clocks)
    t = target("m", OTHER, limits)
    sent: list[Sent] = []
    open_: list[tuple[int, object]] = []
    learned: list[list[float]] = []   # [from, until, remaining, sends before]
    for op in program:
        now = clocks.mono
        if op[0] == "advance":
            clocks.advance(op[1])
        elif op[0] == "settle":
            if open_:
                idx, res = open_.pop(op[1] % len(open_))
                actual = None if op[2] is None else int(sent[idx].tokens * op[2])
                ledger.settle(res, actual, now)
                if actual is not None:
                    sent[idx].tokens = actual
        elif op[0] == "learn":
            reset = op[2]
            ledger.learn(t, {"x-ratelimit-remaining-requests": str(op[1]),
                             "x-ratelimit-reset-requests": f"{reset}s"}, now)
            for statement in learned:   # the newest reset wins for earlier statements
                statement[1] = min(statement[1], now + reset)
            learned.append([now, now + reset, op[1], len(sent)])
        else:
            tokens = op[1]
            if ledger.admits(t, tokens, now) is not None:
                continue
            res = ledger.reserve(t, tokens, now)
            sent.append(Sent(now, int(clocks.wall // DAY), tokens))
            open_.append((len(sent) - 1, res))
            _check(limits, sent, learned, now, int(clocks.wall // DAY))


def _check(limits: RateLimits, sent: list[Sent], learned: list[list[float]], now: float,
           day: int) -> None:
    minute = [s for s in sent if s.mono > now - 60]
    today = [s for s in sent if s.day == day]
    if limits.rpm is not None:
        assert len(minute) <= limits.rpm
    if limits.tpm is not None:
        assert sum(s.tokens for s in minute) <= limits.tpm
    if limits.rpd is not None:
        assert len(today) <= limits.rpd
    if limits.tpd is not None:
        assert sum(s.tokens for s in today) <= limits.tpd
    for start, until, remaining, count_at in learned:
        if start <= now < until:   # requests sent since the provider said `remaining`
            assert len(sent) - count_at <= remaining
