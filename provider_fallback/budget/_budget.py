"""Budget state and the kill switch: past the limit, only free targets are allowed.

Status is the worst ratio of spend to limit over the configured periods (UTC month,
optionally UTC day): OK, WARNING (>= `warning`), CRITICAL (>= `critical`), EXCEEDED
(>= 1.0). Each status change emits one event (BUDGET_OK / _WARNING / _CRITICAL /
_EXCEEDED). At EXCEEDED the kill switch turns on (KILL_SWITCH on=True) and `allows()`
admits only targets known to be free, until one of:

- a new period starts (UTC midnight for the daily limit, the 1st for the monthly one);
- `reset()`: an admin lifts the kill switch for the rest of the current month *and* day
  (even if called before the limit is reached); the next period re-arms it;
- `allow_paid(seconds)`: paid targets are allowed for that long.

Overrides are stored in the ledger's SQLite file, so `provider-fallback budget reset` in
another process reaches a running gateway within the ledger's flush interval.

With a shared state (`state: {backend: redis}`), spend is also added to totals every
replica shares, the status is judged on the larger of those and this ledger's own totals
(after a Redis restart the shared ones may start again from less), and overrides set here
(by the admin API or, through the ledger file, by the CLI) are passed to the other
replicas, whose ledgers take them in.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from ..catalog import Catalog
from ..config import BudgetSettings, Target
from ..telemetry import EventBus
from ._ledger import SpendLedger
from ._periods import DaySpan, day_key, day_span, month_key
from ._prices import cost_usd, is_free, price_of

__all__ = ["ALLOW_PAID_UNTIL", "LIFTED_DAY", "LIFTED_MONTH", "Budget", "BudgetStatus", "SharedSpend"]

# keys of the ledger's overrides table
LIFTED_MONTH = "kill_switch.lifted_month"      # "YYYY-MM": monthly kill switch lifted
LIFTED_DAY = "kill_switch.lifted_day"          # "YYYY-MM-DD": daily kill switch lifted
ALLOW_PAID_UNTIL = "kill_switch.allow_paid_until"  # wall-clock seconds


class SharedSpend(Protocol):
    """What a shared state offers the budget (RedisState implements it)."""

    def add_spend(self, usd: float, wall: float) -> None: ...

    def spend_totals(self, wall: float) -> tuple[float, float] | None: ...

    def share_override(self, name: str, value: str | None) -> None: ...


_SHARED_OVERRIDES = (LIFTED_MONTH, LIFTED_DAY, ALLOW_PAID_UNTIL)


class BudgetStatus(StrEnum):
    OK = "OK"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"
    EXCEEDED = "EXCEEDED"


class Budget:
    """Spend limits over a `SpendLedger`, with a kill switch that only lets free targets
    through. Use it from one thread (the event loop); `allows()` is O(1).

    Report each answer with `charge(target, prompt_tokens, completion_tokens)`, or record
    it in the ledger yourself and then call `on_spend(cost)`.
    """

    def __init__(self, settings: BudgetSettings, ledger: SpendLedger, events: EventBus, *,
                 wall: Callable[[], float] = time.time, prices: Catalog | None = None) -> None:
        self.settings = settings
        self.ledger = ledger
        self._events = events
        self._wall = wall
        self._prices = prices
        self._status = BudgetStatus.OK
        self._blocking = False
        self._paid_ok = False
        self._seen_version = -1
        self._next_check = -math.inf     # next UTC midnight or allow-paid expiry
        self._allow_paid_until = 0.0
        self._month_spend = self._day_spend = 0.0
        # the (limit, ratio) of each period at which the status can next change: below
        # them an answer's spend needs no re-judging (see on_spend)
        self._watch: tuple[tuple[float, float], ...] = ()
        self._shared: SharedSpend | None = None
        self._told: dict[str, str | None] = {}     # overrides the other replicas know
        self._evaluate(initial=True)

    def share(self, shared: SharedSpend) -> None:
        """Count every replica's spend and trade overrides through `shared`. What the
        ledger holds now is not re-shared: only overrides set from now on are."""
        self._shared = shared
        overrides = self.ledger.overrides()
        self._told = {k: overrides.get(k) for k in _SHARED_OVERRIDES}

    def refresh(self) -> None:
        """Re-judge the status now (the shared totals changed)."""
        self._evaluate()

    def adopt_override(self, name: str, value: str | None) -> None:
        """An override another replica set: store it in this ledger too."""
        if name not in _SHARED_OVERRIDES:
            return
        self._told[name] = value
        if self.ledger.overrides().get(name) != value:
            self.ledger.set_override(name, value)

    # -- the request path ---------------------------------------------------------------

    def allows(self, target: Target) -> bool:
        """May `target` be tried now? Always True unless the kill switch is on; then only
        free targets (an unknown price is not free)."""
        if self.ledger.overrides_version != self._seen_version or self._wall() >= self._next_check:
            self._evaluate()
        return not self._blocking or is_free(target, self._prices)

    def on_spend(self, cost: float) -> None:
        """Re-check the status after an answer already recorded in the ledger. Spend only
        grows within a UTC day: unless an override changed, a period ended or a shared
        state adds other replicas' spend, the status is re-judged only once a period's
        spend reaches its next threshold (warning, critical, the limit)."""
        wall = self._wall()
        if self.ledger.overrides_version != self._seen_version or wall >= self._next_check:
            self._evaluate()
        elif cost > 0:
            if self._shared is not None:
                self._evaluate()
                return
            self._month_spend, self._day_spend = self.ledger.current_totals(wall)
            month, day = self._watch
            if (month[0] and self._month_spend / month[0] >= month[1]) \
                    or (day[0] and self._day_spend / day[0] >= day[1]):
                self._evaluate()

    def charge(self, target: Target, prompt_tokens: int, completion_tokens: int) -> float:
        """Price one answer, record it in the ledger, update the status; returns USD."""
        cost = cost_usd(price_of(target, self._prices), prompt_tokens, completion_tokens)
        wall = self._wall()
        self.ledger.record(target.provider.name, target.model, prompt_tokens,
                           completion_tokens, cost, wall=wall)
        if self._shared is not None and cost > 0:
            self._shared.add_spend(cost, wall)
        self.on_spend(cost)
        return cost

    @property
    def status(self) -> BudgetStatus:
        return self._status

    @property
    def kill_switch(self) -> bool:
        """True while paid targets are blocked."""
        return self._blocking

    # -- admin --------------------------------------------------------------------------

    def reset(self) -> dict[str, Any]:
        """Lift the kill switch for the rest of the current UTC month and day."""
        now = self._wall()
        self.ledger.set_override(LIFTED_MONTH, month_key(now))
        self.ledger.set_override(LIFTED_DAY, day_key(now))
        return self.view()

    def allow_paid(self, seconds: float) -> dict[str, Any]:
        """Allow paid targets for `seconds` from now (0 cancels an earlier grant)."""
        until = self._wall() + seconds if seconds > 0 else None
        self.ledger.set_override(ALLOW_PAID_UNTIL, None if until is None else repr(until))
        return self.view()

    def view(self) -> dict[str, Any]:
        """Spend, limits, ratio, status, kill switch and projected month-end spend."""
        self._evaluate()
        now = self._wall()
        s = self.settings
        ratio, period = self._ratio()
        return {
            "status": self._status.value,
            "kill_switch": self._blocking,
            "ratio": round(ratio, 6),
            "period": period,
            "month": month_key(now),
            "day": day_key(now),
            "spend_month_usd": round(self._month_spend, 8),
            "spend_day_usd": round(self._day_spend, 8),
            "monthly_limit_usd": s.monthly_usd,
            "daily_limit_usd": s.daily_usd,
            "warning": s.warning,
            "critical": s.critical,
            "lifted_month": self.ledger.overrides().get(LIFTED_MONTH) == month_key(now),
            "lifted_day": self.ledger.overrides().get(LIFTED_DAY) == day_key(now),
            "allow_paid_until": self._allow_paid_until if self._allow_paid_until > now else None,
            "projected_month_usd": round(projected_month_end(self._month_spend, now), 6),
        }

    # -- internals ------------------------------------------------------------------------

    def _ratio(self) -> tuple[float, str | None]:
        s = self.settings
        best, period = 0.0, None
        for name, spend, limit in (("month", self._month_spend, s.monthly_usd),
                                   ("day", self._day_spend, s.daily_usd)):
            if limit:
                r = spend / limit
                if period is None or r > best:
                    best, period = r, name
        return best, period

    def _armed(self, span: DaySpan) -> bool:
        s, o = self.settings, self.ledger.overrides()
        return bool((s.monthly_usd and self._month_spend >= s.monthly_usd
                     and o.get(LIFTED_MONTH) != span.month)
                    or (s.daily_usd and self._day_spend >= s.daily_usd
                        and o.get(LIFTED_DAY) != span.day))

    def _next_threshold(self, spend: float, limit: float | None) -> tuple[float, float]:
        """(limit, the next ratio at which this period's status or kill switch changes);
        (0, _) when the period has no limit, (limit, inf) when it is past its limit."""
        if not limit:
            return 0.0, math.inf
        ratio = spend / limit
        s = self.settings
        return limit, min((b for b in (s.warning, s.critical, 1.0) if ratio < b), default=math.inf)

    def _status_for(self, ratio: float) -> BudgetStatus:
        if ratio >= 1.0:
            return BudgetStatus.EXCEEDED
        if ratio >= self.settings.critical:
            return BudgetStatus.CRITICAL
        if ratio >= self.settings.warning:
            return BudgetStatus.WARNING
        return BudgetStatus.OK

    def _evaluate(self, *, initial: bool = False) -> None:
        now = self._wall()
        self._seen_version = self.ledger.overrides_version
        overrides = self.ledger.overrides()
        self._allow_paid_until = _float(overrides.get(ALLOW_PAID_UNTIL))
        self._month_spend, self._day_spend = self.ledger.current_totals(now)
        shared = self._shared
        if shared is not None:
            totals = shared.spend_totals(now)
            if totals is not None:
                self._month_spend = max(self._month_spend, totals[0])
                self._day_spend = max(self._day_spend, totals[1])
            for name in _SHARED_OVERRIDES:   # set here, by the admin API or the CLI
                value = overrides.get(name)
                if value != self._told.get(name, value):
                    self._told[name] = value
                    shared.share_override(name, value)
        paid_ok = now < self._allow_paid_until
        span = self.ledger.period(now)       # keys and next midnight: cached per UTC day
        self._next_check = span.end
        if paid_ok:
            self._next_check = min(self._next_check, self._allow_paid_until)
        ratio, period = self._ratio()
        status = self._status_for(ratio)
        self._watch = (self._next_threshold(self._month_spend, self.settings.monthly_usd),
                       self._next_threshold(self._day_spend, self.settings.daily_usd))
        extra = {"initial": True} if initial else {}
        if status != self._status:
            limit = self.settings.monthly_usd if period == "month" else self.settings.daily_usd
            spend = self._month_spend if period == "month" else self._day_spend
            self._events.emit(f"BUDGET_{status.value}", spend=round(spend, 8), limit=limit,
                              ratio=round(ratio, 6), period=period,
                              previous=self._status.value, **extra)
            self._status = status
        armed = self._armed(span)
        blocking = armed and not paid_ok
        if blocking != self._blocking:
            if blocking:
                reason = "allow_paid_expired" if self._paid_ok else "budget_exceeded"
            elif paid_ok:
                reason = "allow_paid"
            elif status is BudgetStatus.EXCEEDED:
                reason = "reset"
            else:
                reason = "new_period"
            self._events.emit("KILL_SWITCH", on=blocking, reason=reason, period=period,
                              status=status.value,
                              allow_paid_until=self._allow_paid_until if paid_ok else None,
                              **extra)
            self._blocking = blocking
        self._paid_ok = paid_ok and armed


def next_utc_midnight(wall: float) -> float:
    return day_span(wall).end


def projected_month_end(spend: float, wall: float) -> float:
    """Spend so far / elapsed fraction of the UTC month (at least one hour counts as elapsed,
    so the first minutes of a month do not project absurd numbers)."""
    now = datetime.fromtimestamp(wall, UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    total = (end - start).total_seconds()
    elapsed = max(3600.0, (now - start).total_seconds())
    return spend * total / elapsed


def _float(value: str | None) -> float:
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0
