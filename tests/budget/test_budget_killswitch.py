"""Budget status transitions, their events, and the kill switch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import make_config

from provider_fallback.budget import Budget, BudgetStatus, SpendLedger
from provider_fallback.config import BudgetSettings
from provider_fallback.telemetry import EventBus

BUDGET_EVENTS = frozenset({"BUDGET_OK", "BUDGET_WARNING", "BUDGET_CRITICAL", "BUDGET_EXCEEDED",
                           "KILL_SWITCH"})


@pytest.fixture
def ledger(tmp_path, clock):
    with SpendLedger(tmp_path / "spend.sqlite3", wall=clock, writer=False) as ledger:
        yield ledger


def make_budget(ledger, clock, **settings):
    events = EventBus(wall=clock)
    return Budget(BudgetSettings(**settings), ledger, events, wall=clock), events


def spend(budget: Budget, usd: float) -> None:
    budget.ledger.record("groq", "llama-3.3-70b-versatile", 0, 0, usd)
    budget.on_spend(usd)


def kinds(events: EventBus) -> list[str]:
    return [e.type for e in events.recent(types=BUDGET_EVENTS)]


def test_transitions_emit_exactly_one_event_each(ledger, clock):
    budget, events = make_budget(ledger, clock, monthly_usd=10.0)
    assert budget.status is BudgetStatus.OK and kinds(events) == []
    for usd in (3.0, 4.0, 0.4):            # 7.4: still under 75%
        spend(budget, usd)
    assert kinds(events) == []
    spend(budget, 0.1)                      # 7.5 -> WARNING
    spend(budget, 0.5)
    spend(budget, 1.0)                      # 9.0 -> CRITICAL
    spend(budget, 0.5)
    assert budget.status is BudgetStatus.CRITICAL and not budget.kill_switch
    spend(budget, 0.5)                      # 10.0 -> EXCEEDED + kill switch
    spend(budget, 3.0)
    assert kinds(events) == ["BUDGET_WARNING", "BUDGET_CRITICAL", "BUDGET_EXCEEDED", "KILL_SWITCH"]
    warning, critical, exceeded, kill = events.recent(types=BUDGET_EVENTS)
    assert warning.fields["spend"] == pytest.approx(7.5) and warning.fields["limit"] == 10.0
    assert warning.fields["ratio"] == pytest.approx(0.75) and warning.fields["period"] == "month"
    assert critical.fields["previous"] == "WARNING"
    assert exceeded.fields["ratio"] == pytest.approx(1.0)
    assert kill.fields["on"] is True and kill.fields["reason"] == "budget_exceeded"
    assert budget.status is BudgetStatus.EXCEEDED and budget.kill_switch


def test_a_jump_emits_only_the_final_status(ledger, clock):
    budget, events = make_budget(ledger, clock, monthly_usd=1.0)
    spend(budget, 5.0)
    assert kinds(events) == ["BUDGET_EXCEEDED", "KILL_SWITCH"]


def test_kill_switch_allows_only_free_targets(ledger, clock, targets):
    budget, _ = make_budget(ledger, clock, monthly_usd=1.0)
    assert all(budget.allows(t) for t in targets.values())
    spend(budget, 1.0)
    allowed = {key for key, t in targets.items() if budget.allows(t)}
    assert allowed == {"openrouter/minimax/minimax-m2.1:free", "local/tiny",
                       "openrouter/paid/but-free-here"}
    # unknown price (local/mystery, paid minimax) is blocked, not treated as free


def test_charge_prices_records_and_updates(ledger, clock, targets):
    budget, events = make_budget(ledger, clock, monthly_usd=1.0)
    t = targets["groq/llama-3.3-70b-versatile"]
    cost = budget.charge(t, 1_000_000, 1_000_000)
    assert cost == pytest.approx(0.59 + 0.79)
    assert ledger.month_total() == pytest.approx(1.38)
    assert budget.kill_switch and not budget.allows(t)
    assert budget.charge(targets["openrouter/minimax/minimax-m2.1:free"], 10**6, 10**6) == 0.0
    rows = ledger.by_provider_model_day(1)
    assert {(r.provider, r.model, r.requests) for r in rows} == {
        ("groq", "llama-3.3-70b-versatile", 1), ("openrouter", "minimax/minimax-m2.1:free", 1)}


def test_reset_lifts_the_kill_switch_for_the_rest_of_the_period(ledger, clock, targets):
    budget, events = make_budget(ledger, clock, monthly_usd=1.0)
    paid = targets["groq/llama-3.1-8b-instant"]
    spend(budget, 2.0)
    assert not budget.allows(paid)
    budget.reset()
    assert budget.allows(paid) and not budget.kill_switch
    assert budget.status is BudgetStatus.EXCEEDED       # the spend is still reported honestly
    last = events.recent(types=frozenset({"KILL_SWITCH"}))[-1]
    assert last.fields["on"] is False and last.fields["reason"] == "reset"
    spend(budget, 5.0)
    clock.advance(10 * 86400)                           # still February
    assert budget.allows(paid)


def test_allow_paid_expires(ledger, clock, targets):
    budget, events = make_budget(ledger, clock, monthly_usd=1.0)
    paid = targets["groq/llama-3.1-8b-instant"]
    spend(budget, 2.0)
    view = budget.allow_paid(3600)
    assert view["allow_paid_until"] == clock() + 3600
    assert budget.allows(paid) and not budget.kill_switch
    clock.advance(3599)
    assert budget.allows(paid)
    clock.advance(1)
    assert not budget.allows(paid) and budget.kill_switch
    ks = [e.fields for e in events.recent(types=frozenset({"KILL_SWITCH"}))]
    assert [(f["on"], f["reason"]) for f in ks] == [(True, "budget_exceeded"), (False, "allow_paid"),
                                                    (True, "allow_paid_expired")]
    budget.allow_paid(60)
    budget.allow_paid(0)                                # cancels
    assert not budget.allows(paid)


def test_new_month_resets(ledger, clock, targets):
    budget, events = make_budget(ledger, clock, monthly_usd=1.0)
    paid = targets["groq/llama-3.1-8b-instant"]
    spend(budget, 2.0)
    assert not budget.allows(paid)
    clock.set(datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC))
    assert not budget.allows(paid)
    clock.set(datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC))
    assert budget.allows(paid)                          # no spend needed to notice
    assert budget.status is BudgetStatus.OK
    assert kinds(events)[-2:] == ["BUDGET_OK", "KILL_SWITCH"]
    assert events.recent(types=frozenset({"KILL_SWITCH"}))[-1].fields["reason"] == "new_period"


def test_reset_of_last_month_does_not_carry_over(ledger, clock, targets):
    budget, _ = make_budget(ledger, clock, monthly_usd=1.0)
    paid = targets["groq/llama-3.1-8b-instant"]
    spend(budget, 2.0)
    budget.reset()
    clock.set(datetime(2026, 3, 5, tzinfo=UTC))
    spend(budget, 1.0)
    assert not budget.allows(paid)


def test_daily_limit_and_new_day(ledger, clock, targets):
    budget, events = make_budget(ledger, clock, monthly_usd=100.0, daily_usd=2.0)
    paid = targets["groq/llama-3.1-8b-instant"]
    spend(budget, 1.6)
    assert budget.status is BudgetStatus.WARNING
    assert events.recent(types=frozenset({"BUDGET_WARNING"}))[0].fields["period"] == "day"
    spend(budget, 0.4)
    assert not budget.allows(paid)
    clock.set(datetime(2026, 2, 11, 0, 0, 1, tzinfo=UTC))
    assert budget.allows(paid) and budget.status is BudgetStatus.OK


def test_small_charges_cross_every_threshold_of_either_period_at_the_exact_charge(ledger, clock):
    # the status is re-judged only when a period's spend reaches its next threshold: each
    # crossing must still be seen at the charge that makes it, for the day and the month
    budget, events = make_budget(ledger, clock, monthly_usd=3.0, daily_usd=2.0,
                                 warning=0.5, critical=0.8)

    def statuses(n: int) -> list[str]:
        out = []
        for _ in range(n):
            spend(budget, 0.125)
            out.append(budget.status.value)
        return out

    seen = statuses(16)   # the day: 1.0 WARNING (8th), 1.625 CRITICAL (13th), 2.0 EXCEEDED
    assert seen.index("WARNING") == 7 and seen.index("CRITICAL") == 12
    assert seen.index("EXCEEDED") == 15 and budget.kill_switch
    assert kinds(events) == ["BUDGET_WARNING", "BUDGET_CRITICAL", "BUDGET_EXCEEDED", "KILL_SWITCH"]
    clock.set(datetime(2026, 2, 11, 0, 0, 1, tzinfo=UTC))   # a new day; the month at 2.0 of 3.0
    assert budget.allows(next(iter(make_config().chains["main"].targets)))
    assert budget.status is BudgetStatus.WARNING and not budget.kill_switch
    seen = statuses(8)    # the month: 2.5 CRITICAL (4th), 3.0 EXCEEDED (8th)
    assert seen == ["WARNING"] * 3 + ["CRITICAL"] * 4 + ["EXCEEDED"]
    assert budget.kill_switch


def test_restart_over_budget_starts_with_the_kill_switch_on(tmp_path, clock, targets):
    path = tmp_path / "spend.sqlite3"
    with SpendLedger(path, wall=clock, writer=False) as ledger:
        ledger.record("groq", "llama-3.1-8b-instant", 0, 0, 3.0)
    with SpendLedger(path, wall=clock, writer=False) as ledger:
        budget, events = make_budget(ledger, clock, monthly_usd=2.0)
        assert budget.kill_switch and not budget.allows(targets["groq/llama-3.1-8b-instant"])
        assert all(e.fields.get("initial") for e in events.recent(types=BUDGET_EVENTS))


def test_reset_from_another_process_reaches_the_gateway(tmp_path, clock, targets):
    path = tmp_path / "spend.sqlite3"
    paid = targets["groq/llama-3.1-8b-instant"]
    gateway_ledger = SpendLedger(path, wall=clock, interval=0.01)
    try:
        gateway, _ = make_budget(gateway_ledger, clock, monthly_usd=1.0)
        spend(gateway, 2.0)
        assert not gateway.allows(paid)
        with SpendLedger(path, wall=clock, writer=False) as cli_ledger:
            cli, _ = make_budget(cli_ledger, clock, monthly_usd=1.0)
            cli.reset()
        gateway_ledger.flush()       # what the writer thread does every `interval`
        assert gateway.allows(paid)
    finally:
        gateway_ledger.close()


def test_no_limits_means_always_ok(ledger, clock, targets):
    budget, events = make_budget(ledger, clock)
    spend(budget, 1e6)
    assert budget.status is BudgetStatus.OK and all(budget.allows(t) for t in targets.values())
    assert kinds(events) == []
    assert budget.view()["period"] is None


def test_view(tmp_path, clock):
    clock.set(datetime(2026, 2, 8, 0, 0, tzinfo=UTC))   # 7 of 28 days elapsed
    ledger = SpendLedger(tmp_path / "spend.sqlite3", wall=clock, writer=False)
    budget, _ = make_budget(ledger, clock, monthly_usd=20.0, daily_usd=5.0)
    spend(budget, 4.0)
    view = budget.view()
    assert view["status"] == "WARNING" and view["period"] == "day"
    assert view["ratio"] == pytest.approx(0.8)
    assert view["spend_month_usd"] == pytest.approx(4.0)
    assert view["spend_day_usd"] == pytest.approx(4.0)
    assert view["monthly_limit_usd"] == 20.0 and view["daily_limit_usd"] == 5.0
    assert view["projected_month_usd"] == pytest.approx(16.0)
    assert view["kill_switch"] is False and view["allow_paid_until"] is None
    assert view["month"] == "2026-02" and view["day"] == "2026-02-08"
    ledger.close()


def test_settings_from_config_file_section(ledger, clock):
    settings = make_config(monthly_usd=20, daily_usd=2, warning=0.5).budget
    budget = Budget(settings, ledger, EventBus(), wall=clock)
    spend(budget, 1.0)
    assert budget.status is BudgetStatus.WARNING


class NoIO:
    """Stands in for the SQLite connection: any use fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"request path touched the database ({name})")


def test_request_path_does_no_io(ledger, clock, targets):
    budget, _ = make_budget(ledger, clock, monthly_usd=1.0, daily_usd=0.5)
    real, ledger._db = ledger._db, NoIO()
    try:
        paid, free = targets["groq/llama-3.1-8b-instant"], targets["local/tiny"]
        for _ in range(3):
            budget.charge(paid, 10**6, 10**6)
            assert budget.allows(free)
            budget.allows(paid)
            budget.on_spend(0.0)
        budget.reset()
        budget.allow_paid(60)
        clock.set(datetime(2026, 3, 1, tzinfo=UTC))      # a new month
        assert budget.allows(paid)
        clock.set(datetime(2026, 2, 28, tzinfo=UTC))     # the clock steps back
        budget.allows(paid)
        budget.view()
    finally:
        ledger._db = real


def test_budget_exports_are_sorted():
    import provider_fallback.budget as budget

    assert list(budget.__all__) == sorted(budget.__all__)
    for name in budget.__all__:
        assert getattr(budget, name) is not None
