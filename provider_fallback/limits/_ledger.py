"""The rate ledger: per-target request and token windows, learned limits and 429 blocks.

Pure logic, no I/O. `now` is monotonic seconds; `wall()` (Unix time) only places the UTC
day boundary. Every count errs high: a minute bucket leaves the window only once all of
it is 60 s old, in-flight work counts from `reserve` on, and a learned `remaining` is
reduced by everything sent since, including requests the provider may already have seen.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from ..catalog import Catalog, Resolved, default_catalog
from ..config import RateLimits, Target
from ._defaults import WINDOWS
from ._headers import RateLimitHeaders, read_ratelimit_headers, window_for

__all__ = ["DEFAULT_BLOCK_S", "LimitFacts", "RateLedger", "Reservation"]

# Block after a 429 that says nothing about when to come back.
DEFAULT_BLOCK_S = 5.0
# When other replicas' use of a window leaves no room: look again after this long.
PEER_RECHECK_S = 1.0
_SLOTS = 61          # 1-s buckets: the current second plus the 60 before it
_MINUTE = 60.0
_DAY = 86_400.0
_INF = math.inf
_WINDOW_MEMO = 16   # distinct advertised windows remembered per target


class _Learned:
    """What a response said about one window, valid until `until` (monotonic)."""

    __slots__ = ("base", "limit", "remaining", "until")

    def __init__(self, limit: int | None, remaining: int | None, base: int,
                 until: float) -> None:
        self.limit = limit
        self.remaining = remaining
        self.base = base          # the unit's `cum` minus in-flight work when learned
        self.until = until


class LimitFacts(NamedTuple):
    """What one replica learned about a target that the others should know too (times are
    seconds from now, so replicas with different clocks can trade them).

    `windows[i]` for rpm/rpd/tpm/tpd: (learned limit or None, learned as exhausted, seconds
    until the provider's reset), or None when nothing was learned for that window.
    """

    blocked_s: float
    windows: tuple[tuple[int | None, bool, float] | None, ...]


class _State:
    """Windows of one target. Units: index 0 = requests, 1 = tokens."""

    __slots__ = ("blocked_until", "convention", "cum", "day", "day_ends", "head", "inflight",
                 "known", "lapse", "learned", "limits", "others", "period", "ring", "sources",
                 "target", "total", "windows")

    def __init__(self, target: Target, limits: list[int | None], sources: list[str | None],
                 convention: Mapping[str, str] | None = None):
        self.target = target
        self.limits = limits                      # rpm, rpd, tpm, tpd from config/defaults
        self.sources = sources
        self.known = RateLimits(*limits)          # the same, for window_for
        self.convention = convention              # the host's header windows (catalog)
        self.learned: list[_Learned | None] = [None, None, None, None]
        self.lapse = _INF                         # no later than the soonest learned `until`
        self.ring = ([0] * _SLOTS, [0] * _SLOTS)  # per-second requests, tokens
        self.total = [0, 0]                       # sum of each ring
        self.head = -1                            # absolute second of the newest bucket
        self.day = [0, 0]                         # requests, tokens this day
        self.day_ends = -_INF                     # monotonic time the day window resets
        self.period = 0                           # which day `day` counts
        self.cum = [0, 0]                         # everything ever reserved (after settles)
        self.inflight = [0, 0]                    # reserved, not settled
        self.blocked_until = -_INF
        self.others = [0, 0, 0, 0]                # other replicas' use of rpm, rpd, tpm, tpd
        # what window_for said of the windows answers advertise (a few distinct ones)
        self.windows: dict[tuple[str, str | None, int | None, bool], int] = {}


class Reservation:
    """Capacity held for one attempt; pass it to `RateLedger.settle` once. `hold`: what
    the attempt holds in a window shared with other replicas, if any (the router's
    accounting sets and settles it)."""

    __slots__ = ("_bucket", "_period", "_state", "hold", "settled", "tokens")

    def __init__(self, state: _State, tokens: int, bucket: int, period: int) -> None:
        self._state = state
        self.tokens = tokens
        self._bucket = bucket
        self._period = period
        self.settled = False
        self.hold: Any = None

    @property
    def target_key(self) -> str:
        return self._state.target.key


def _learn(st: _State, i: int, snap: _Learned) -> None:
    """What an answer (or a peer) said of window `i`, until `snap.until`."""
    st.learned[i] = snap
    if snap.until < st.lapse:
        st.lapse = snap.until


class RateLedger:
    """Counts requests and tokens per target against rpm/rpd/tpm/tpd and decides admission.
    Limits come from config (`target.limits`), else the provider catalog, overridden by
    response headers until the advertised reset. Not thread-safe: use it from one loop."""

    def __init__(self, wall: Callable[[], float] = time.time, catalog: Catalog | None = None,
                 default_block: float = DEFAULT_BLOCK_S) -> None:
        self._wall = wall
        self._catalog = catalog
        self._default_block = default_block
        self._states: dict[str, _State] = {}

    # -- admission ------------------------------------------------------------------------

    def admits(self, target: Target, tokens: int, now: float) -> float | None:
        """None if one more request of `tokens` fits every window now, else the seconds
        until it could (`math.inf` if it never fits: larger than a whole window's limit)."""
        st = self._state(target, now)
        wait = st.blocked_until - now
        if wait <= 0.0:
            wait = 0.0
        need = (1, 1, tokens, tokens)
        limits = st.limits
        learned = st.learned
        for i in range(4):
            n = need[i]
            unit = i >> 1
            snap = learned[i]
            limit = limits[i]
            if snap is not None:
                if snap.limit is not None:
                    limit = snap.limit
                if snap.remaining is not None and \
                        n > snap.remaining - (st.cum[unit] - snap.base):
                    wait = max(wait, snap.until - now)
            if limit is None:
                continue
            if n > limit:
                return _INF
            used = (st.day[unit] if i & 1 else st.total[unit]) + st.others[i]
            if used + n > limit:
                wait = max(wait, self._local_wait(st, i, n, limit, now))
        return wait if wait > 0.0 else None

    def reserve(self, target: Target, tokens: int, now: float) -> Reservation:
        """Count one request and `tokens` now, so concurrent requests see them."""
        st = self._state(target, now)
        tokens = max(0, int(tokens))
        slot = st.head % _SLOTS
        st.ring[0][slot] += 1
        st.ring[1][slot] += tokens
        st.total[0] += 1
        st.total[1] += tokens
        st.day[0] += 1
        st.day[1] += tokens
        st.cum[0] += 1
        st.cum[1] += tokens
        st.inflight[0] += 1
        st.inflight[1] += tokens
        return Reservation(st, tokens, st.head, st.period)

    def settle(self, reservation: Reservation, actual_tokens: int | None, now: float) -> None:
        """Replace the estimate with real usage. The request itself always stays counted
        (providers count failed and rejected requests too).

        `actual_tokens`: the usage the provider reported; 0 for an attempt it never
        processed (connection refused, 4xx/5xx before generation); None when unknown
        (a stream cut mid-way), which keeps the estimate. Settling twice does nothing.
        """
        if reservation.settled:
            return
        reservation.settled = True
        st = reservation._state
        st.inflight[0] -= 1
        st.inflight[1] -= reservation.tokens
        if actual_tokens is None:
            return
        delta = max(0, int(actual_tokens)) - reservation.tokens
        if delta == 0:
            return
        self._advance(st, now)
        st.cum[1] += delta
        bucket = reservation._bucket
        if bucket > st.head - _SLOTS:
            st.ring[1][bucket % _SLOTS] += delta
            st.total[1] += delta
        elif delta > 0:  # the attempt outlived its bucket: count the extra now
            st.ring[1][st.head % _SLOTS] += delta
            st.total[1] += delta
        if reservation._period == st.period or delta > 0:
            st.day[1] = max(0, st.day[1] + delta)

    # -- learning -------------------------------------------------------------------------

    def learn(self, target: Target, headers: Mapping[str, str] | RateLimitHeaders | None,
              now: float, wall: float | None = None, *,
              answering: Reservation | None = None) -> RateLimitHeaders:
        """Take limits, remaining counts and resets from a response's headers (any status),
        or from what an error body said (`from_facts`).

        A learned window overrides the configured one until its reset (the newest reset
        wins, but a tighter `remaining` still in force is kept); a `retry-after` blocks
        the target like `on_429`. `wall` is the Unix time (default: the ledger's).
        `answering`: the in-flight reservation these headers answer; the provider has
        already counted that request, so it is not subtracted from `remaining` again.
        """
        seen = headers if isinstance(headers, RateLimitHeaders) else \
            read_ratelimit_headers(headers, self._wall() if wall is None else wall)
        if seen.empty:
            return seen
        st = self._state(target, now)
        windows = st.windows
        for unit, adv in (("requests", seen.requests), ("tokens", seen.tokens)):
            if adv is None:
                continue
            # which window the answer describes depends on these alone: asked once
            key = (unit, adv.window, adv.limit, adv.reset_s is not None and adv.reset_s > 60.0)
            i = windows.get(key)
            if i is None:
                if len(windows) >= _WINDOW_MEMO:
                    windows.clear()
                i = windows[key] = WINDOWS.index(window_for(unit, adv, st.known, st.convention))
            u = i >> 1
            if adv.reset_s is not None:
                until = now + adv.reset_s
            else:
                until = st.day_ends if i & 1 else now + _MINUTE
            remaining, limit = adv.remaining, adv.limit
            old = st.learned[i]
            if limit is None and old is not None:
                limit = old.limit
            if old is not None and old.remaining is not None:
                # responses can arrive out of order: a still-valid tighter statement holds
                left = old.remaining - (st.cum[u] - old.base) + st.inflight[u]
                remaining = left if remaining is None else min(remaining, left)
            base = st.cum[u] - st.inflight[u]
            if u == 0 and answering is not None and not answering.settled \
                    and answering._state is st:
                base += 1
            _learn(st, i, _Learned(limit, remaining, base, until))
        if seen.retry_after is not None:
            self.on_429(target, seen.retry_after, now)
        return seen

    def on_429(self, target: Target, retry_after: float | None, now: float) -> float:
        """Admit nothing to `target` for `retry_after` seconds, or, when None, until the
        latest reset of a window learned as exhausted (else `default_block`). Returns it."""
        st = self._state(target, now)
        wait = retry_after
        if wait is None:
            resets = [s.until - now for i, s in enumerate(st.learned)
                      if s is not None and s.remaining is not None
                      and s.remaining - (st.cum[i >> 1] - s.base) <= 0]
            wait = max(resets) if resets else self._default_block
        wait = max(0.0, wait)
        st.blocked_until = max(st.blocked_until, now + wait)
        return wait

    # -- status ---------------------------------------------------------------------------

    def view(self, target: Target, now: float, *, resets: bool = True) -> dict[str, Any]:
        """For rpm/rpd/tpm/tpd: limit, used, remaining, reset_in_s and source ("config",
        "default", "learned" or None when unknown); plus `blocked_s`. `resets=False` skips
        the minute windows' reset times (a scan of each window; /metrics does not show them)."""
        st = self._state(target, now)
        out: dict[str, Any] = {}
        for i, name in enumerate(WINDOWS):
            u = i >> 1
            limit, source = st.limits[i], st.sources[i]
            used = (st.day[u] if i & 1 else st.total[u]) + st.others[i]
            reset = st.day_ends - now if i & 1 else (
                self._minute_clear(st, u, now) if resets else 0.0)
            remaining = None if limit is None else limit - used
            snap = st.learned[i]
            if snap is not None:
                source = "learned"
                reset = snap.until - now
                if snap.limit is not None:
                    limit = snap.limit
                    remaining = limit - used
                if snap.remaining is not None:
                    left = snap.remaining - (st.cum[u] - snap.base)
                    remaining = left if remaining is None else min(remaining, left)
                if limit is not None and remaining is not None:
                    used = max(used, limit - remaining)
            out[name] = {"limit": limit, "used": used,
                         "remaining": None if remaining is None else max(0, remaining),
                         "reset_in_s": max(0.0, reset), "source": source}
        out["blocked_s"] = max(0.0, st.blocked_until - now)
        return out

    # -- sharing between replicas ---------------------------------------------------------

    def rpm_limit(self, target: Target, now: float) -> int | None:
        """The requests-per-minute limit in force: learned from headers, else configured or
        shipped; None if unknown."""
        st = self._state(target, now)
        snap = st.learned[0]
        if snap is not None and snap.limit is not None:
            return snap.limit
        return st.limits[0]

    def tpm_limit(self, target: Target, now: float) -> int | None:
        """The tokens-per-minute limit in force, like `rpm_limit`."""
        st = self._state(target, now)
        snap = st.learned[2]
        if snap is not None and snap.limit is not None:
            return snap.limit
        return st.limits[2]

    def facts(self, target: Target, now: float) -> LimitFacts:
        """What this ledger learned about `target` from the provider (blocks, advertised
        limits, windows it said are exhausted), for the other replicas (`adopt`)."""
        st = self._state(target, now)
        windows: list[tuple[int | None, bool, float] | None] = []
        for i, snap in enumerate(st.learned):
            if snap is None:
                windows.append(None)
                continue
            exhausted = snap.remaining is not None and \
                snap.remaining - (st.cum[i >> 1] - snap.base) <= 0
            windows.append((snap.limit, exhausted, snap.until - now))
        return LimitFacts(max(0.0, st.blocked_until - now), tuple(windows))

    def adopt(self, target: Target, facts: LimitFacts, now: float) -> None:
        """Take what another replica learned: its block (the later one wins), a limit not
        known here, a window it found exhausted (held until its reset). What this ledger
        learned itself is kept where it says more."""
        st = self._state(target, now)
        if facts.blocked_s > 0.0:
            st.blocked_until = max(st.blocked_until, now + facts.blocked_s)
        for i, fact in enumerate(facts.windows):
            if fact is None or fact[2] <= 0.0:
                continue
            limit, exhausted, reset_s = fact
            u = i >> 1
            mine = st.learned[i]
            base = st.cum[u] - st.inflight[u]
            if exhausted:
                if mine is not None and mine.remaining is not None and \
                        mine.remaining - (st.cum[u] - mine.base) <= 0 and \
                        mine.until >= now + reset_s:
                    continue   # already held back at least as long
                _learn(st, i, _Learned(limit if limit is not None else
                                       (mine.limit if mine is not None else None),
                                       0, st.cum[u], now + reset_s))
            elif limit is not None and (mine is None or mine.limit is None):
                _learn(st, i, _Learned(limit, None if mine is None else mine.remaining,
                                       base if mine is None else mine.base, now + reset_s))

    def usage(self, now: float) -> Iterator[tuple[str, tuple[int, int, int, int]]]:
        """This ledger's own use per target key: (rpm, rpd, tpm, tpd) counts, for the other
        replicas (`set_others`); targets with nothing counted are left out."""
        for key, st in list(self._states.items()):
            st = self._state(st.target, now)
            if st.total[0] or st.day[0] or st.total[1] or st.day[1]:
                yield key, (st.total[0], st.day[0], st.total[1], st.day[1])

    def set_others(self, target: Target, used: Sequence[int], now: float) -> None:
        """The other replicas' combined (rpm, rpd, tpm, tpd) use of `target`: counted in
        every admission and view until the next call (zeros: they have none)."""
        self._state(target, now).others = [max(0, int(x)) for x in used[:4]]

    def peers_using(self) -> list[Target]:
        """Targets whose other-replica use is not zero."""
        return [st.target for st in self._states.values() if any(st.others)]

    def forget(self, target: Target) -> None:
        """Drop everything known about `target` (config reload, tests)."""
        self._states.pop(target.key, None)

    # -- internals ------------------------------------------------------------------------
    def _known(self, target: Target) -> Resolved:
        return (self._catalog or default_catalog()).resolve(target.provider, target.model)

    def _state(self, target: Target, now: float) -> _State:
        st = self._states.get(target.key)
        if st is None or st.target is not target:
            st = self._new_state(target, st)
        if int(now) != st.head:
            self._advance(st, now)
        if now >= st.day_ends:
            self._roll_day(st, now)
        if now >= st.lapse:   # a learned window lapsed: forget it
            learned = st.learned
            for i in range(4):
                snap = learned[i]
                if snap is not None and now >= snap.until:
                    self._expire(st, i)
            st.lapse = min((s.until for s in learned if s is not None), default=_INF)
        return st

    def _new_state(self, target: Target, old: _State | None) -> _State:
        configured = target.limits
        resolved = self._known(target)
        shipped = resolved.limits
        limits: list[int | None] = []
        sources: list[str | None] = []
        for name in WINDOWS:
            value = getattr(configured, name) if configured is not None else None
            if value is not None:
                limits.append(value)
                sources.append("config")
                continue
            value = getattr(shipped, name) if shipped is not None else None
            limits.append(value)
            sources.append("default" if value is not None else None)
        st = _State(target, limits, sources, resolved.header_windows)
        if old is not None:  # same key, new config: keep what was counted and learned
            for slot in _State.__slots__:
                if slot not in ("convention", "known", "limits", "sources", "target"):
                    setattr(st, slot, getattr(old, slot))
        self._states[target.key] = st
        return st

    @staticmethod
    def _advance(st: _State, now: float) -> None:
        """Move the ring to second `int(now)`, dropping buckets that are a full minute old."""
        second = int(now)
        head = st.head
        if second <= head:
            return  # the clock went backwards or stood still: keep counting in the head
        reqs, toks = st.ring
        if second - head >= _SLOTS:
            for j in range(_SLOTS):
                reqs[j] = toks[j] = 0
            st.total[0] = st.total[1] = 0
        else:
            dropped_r = dropped_t = 0
            for b in range(head + 1, second + 1):
                j = b % _SLOTS
                dropped_r += reqs[j]
                dropped_t += toks[j]
                reqs[j] = toks[j] = 0
            st.total[0] -= dropped_r
            st.total[1] -= dropped_t
        st.head = second

    def _roll_day(self, st: _State, now: float) -> None:
        wall = self._wall()
        st.day[0] = st.day[1] = 0
        st.day_ends = now + (_DAY - wall % _DAY)
        st.period += 1

    def _expire(self, st: _State, i: int) -> None:
        snap = st.learned[i]
        st.learned[i] = None
        if snap is not None and i & 1 and snap.remaining is not None:
            # the provider's advertised daily reset: it has forgotten what it had counted
            # then; keep only what was sent after it told us
            u = i >> 1
            st.day[u] = max(0, min(st.day[u], st.cum[u] - snap.base))

    def _local_wait(self, st: _State, i: int, need: int, limit: int, now: float) -> float:
        """Seconds until our own count in window `i` has room for `need` under `limit`."""
        if i & 1:
            wait = self._day_wait(st, i, need, now)
        else:
            wait = self._minute_wait(st, i, need, limit, now)
        snap = st.learned[i]
        if snap is None or snap.limit != limit or snap.until - now >= wait:
            return wait
        # the learned limit lapses first; the configured one may have room by then
        lapse = snap.until - now
        after = st.limits[i]
        if after is None:
            return lapse
        if need > after:
            return wait
        unit = i >> 1
        if (st.day[unit] if i & 1 else st.total[unit]) + st.others[i] + need <= after:
            return lapse
        if i & 1:
            return wait
        return max(lapse, self._minute_wait(st, i, need, after, now))

    @staticmethod
    def _day_wait(st: _State, i: int, need: int, now: float) -> float:
        """Seconds until the day window has room: an advertised reset if it frees enough
        (see `_expire`), else the next UTC midnight."""
        snap = st.learned[i]
        if snap is not None and snap.remaining is not None and snap.until < st.day_ends:
            after = st.limits[i]
            if after is None or st.cum[i >> 1] - snap.base + need <= after:
                return snap.until - now
        return st.day_ends - now

    @staticmethod
    def _minute_wait(st: _State, i: int, need: int, limit: int, now: float) -> float:
        """Seconds until enough old buckets leave the minute window (`i`: rpm or tpm) for
        `need` to fit. When other replicas' use alone leaves no room, when theirs frees is
        unknown here: check again after the next exchange (`PEER_RECHECK_S`)."""
        unit = i >> 1
        ring = st.ring[unit]
        excess = st.total[unit] + st.others[i] + need - limit
        first = st.head - _SLOTS + 1
        for b in range(first, st.head + 1):
            excess -= ring[b % _SLOTS]
            if excess <= 0:
                return b + _SLOTS - now
        return PEER_RECHECK_S

    @staticmethod
    def _minute_clear(st: _State, unit: int, now: float) -> float:
        ring = st.ring[unit]
        for b in range(st.head, st.head - _SLOTS, -1):
            if ring[b % _SLOTS]:
                return b + _SLOTS - now
        return 0.0
