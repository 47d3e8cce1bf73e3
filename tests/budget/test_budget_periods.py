"""UTC period keys cached per day: the same keys and midnights as formatting every time,
rolling over exactly at midnight UTC and at month and year ends, and formatted once a day
on the request path."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Clock, make_config
from hypothesis import given, settings
from hypothesis import strategies as st

from provider_fallback.budget import Budget, SpendLedger, _periods, day_key, month_key
from provider_fallback.budget._budget import next_utc_midnight
from provider_fallback.config import BudgetSettings
from provider_fallback.telemetry import EventBus


def reference(wall: float) -> tuple[str, str, float]:
    """What the budget computed per answer before the cache: strftime and datetime math."""
    now = datetime.fromtimestamp(wall, UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return now.strftime("%Y-%m"), now.strftime("%Y-%m-%d"), (start + timedelta(days=1)).timestamp()


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


# (just before, at) each boundary: a plain midnight, month ends (30, 31 days, February
# in a leap year and not), the year end
BOUNDARIES = [ts(2026, 2, 11), ts(2026, 3, 1), ts(2026, 5, 1), ts(2026, 7, 1),
              ts(2028, 2, 29), ts(2028, 3, 1), ts(2027, 1, 1)]


@pytest.mark.parametrize("midnight", BOUNDARIES)
def test_keys_roll_over_exactly_at_midnight_utc(midnight):
    days = _periods.UtcDays()
    before = days.at(midnight - 0.001)
    assert (before.month, before.day, before.end) == reference(midnight - 0.001)
    assert before.end == midnight
    after = days.at(midnight)
    assert (after.month, after.day, after.end) == reference(midnight)
    assert after.start == midnight and after.end == midnight + 86_400
    assert after.day > before.day
    # the last representable instant of the day still belongs to it
    last = days.at(before.end - 1e-6)
    assert last.day == before.day


def test_month_end_changes_the_month_key_and_year_end_the_year():
    days = _periods.UtcDays()
    assert days.at(ts(2026, 2, 28, 23, 59, 59)).month == "2026-02"
    assert days.at(ts(2026, 3, 1)).month == "2026-03"
    assert days.at(ts(2026, 12, 31, 23, 59, 59)).day == "2026-12-31"
    span = days.at(ts(2027, 1, 1))
    assert (span.month, span.day) == ("2027-01", "2027-01-01")


def test_a_clock_stepping_back_gets_the_earlier_day_again():
    days = _periods.UtcDays()
    assert days.at(ts(2026, 3, 1, 0, 0, 5)).day == "2026-03-01"
    assert days.at(ts(2026, 2, 28, 23, 59, 59)).day == "2026-02-28"
    assert days.at(ts(2026, 3, 1, 0, 0, 6)).day == "2026-03-01"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
                min_size=1, max_size=30))
def test_cached_keys_equal_formatting_every_time(walls):
    days = _periods.UtcDays()
    for wall in sorted(walls) + walls:        # forwards, then in any order
        span = days.at(wall)
        assert span.start <= wall < span.end
        month, day, end = reference(span.start)
        assert (span.month, span.day, span.end) == (month, day, end)
        assert span.month == month_key(span.start) and span.day == day_key(span.start)
        assert next_utc_midnight(wall) == end


def formatted(fn) -> int:
    """How many times `fn()` formats a date (C calls of `datetime.strftime`, counted by a
    profile hook, so whichever module does it is seen)."""
    calls = 0

    def hook(frame, event, arg):
        nonlocal calls
        if event == "c_call" and getattr(arg, "__qualname__", "") == "datetime.strftime":
            calls += 1
    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


def test_a_day_of_priced_answers_formats_the_keys_once(tmp_path):
    """The request path: 1,000 priced charges within one UTC day format the period keys at
    most once (before: twice per charge, plus the next midnight's datetime math), and one
    past midnight once more."""
    clock = Clock(ts(2026, 2, 10, 12))
    target = [t for t in make_config().chains["main"].targets
              if t.key == "groq/openai/gpt-oss-20b"][0]       # priced $1 / $2 per 1M
    with SpendLedger(tmp_path / "spend.sqlite3", wall=clock, writer=False) as ledger:
        budget = Budget(BudgetSettings(monthly_usd=1000.0, daily_usd=100.0), ledger,
                        EventBus(wall=clock), wall=clock)

        def one_day() -> None:
            for _ in range(1000):
                clock.advance(1.0)
                budget.charge(target, 1000, 1000)

        assert formatted(one_day) <= 1
        assert ledger.current_totals() == (pytest.approx(3.0), pytest.approx(3.0))
        clock.set(datetime(2026, 2, 11, tzinfo=UTC))
        assert formatted(lambda: budget.charge(target, 1000, 1000)) <= 1
        assert ledger.current_totals() == (pytest.approx(3.003), pytest.approx(0.003))


def test_daily_kill_switch_lifts_at_midnight_and_monthly_on_the_first(tmp_path):
    """The budget's behaviour at the boundaries is unchanged: blocked until the exact
    midnight that starts the next period, open from then on."""
    clock = Clock(ts(2026, 2, 28, 23, 0))
    with SpendLedger(tmp_path / "spend.sqlite3", wall=clock, writer=False) as ledger:
        budget = Budget(BudgetSettings(monthly_usd=10.0, daily_usd=1.0), ledger,
                        EventBus(wall=clock), wall=clock)
        paid = [t for t in make_config().chains["main"].targets
                if t.key == "groq/openai/gpt-oss-20b"][0]
        budget.charge(paid, 500_000, 0)        # $0.50 of $1.00 today
        assert budget.allows(paid)
        budget.charge(paid, 500_000, 0)        # $1.00: the daily limit
        assert not budget.allows(paid) and budget.view()["period"] == "day"
        clock.set(datetime(2026, 2, 28, 23, 59, 59, 999_000, tzinfo=UTC))
        assert not budget.allows(paid)
        clock.set(datetime(2026, 3, 1, tzinfo=UTC))       # a new day and a new month
        assert budget.allows(paid)
        assert budget.view()["day"] == "2026-03-01" and budget.view()["month"] == "2026-03"
        assert budget.view()["spend_day_usd"] == 0 and budget.view()["spend_month_usd"] == 0
        for _ in range(10):                    # $10 in March: the monthly limit
            clock.advance(86_400)
            budget.charge(paid, 1_000_000, 0)
        assert not budget.allows(paid) and budget.view()["period"] == "month"
        clock.set(datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC))
        assert not budget.allows(paid)
        clock.set(datetime(2026, 4, 1, tzinfo=UTC))
        assert budget.allows(paid)
