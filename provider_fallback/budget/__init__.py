"""Cost and budget: prices per target, a SQLite spend ledger, limits and the kill switch.

`price_of(target)` and `cost_usd(...)` price an answer; `SpendLedger` keeps spend per
(UTC day, provider, model) without I/O on the request path; `Budget` turns spend into a
status (OK / WARNING / CRITICAL / EXCEEDED) and, past the limit, `allows()` only free
targets.
"""

from ._budget import ALLOW_PAID_UNTIL, LIFTED_DAY, LIFTED_MONTH, Budget, BudgetStatus
from ._ledger import SpendLedger, SpendRow, default_data_dir, default_ledger_path
from ._periods import day_key, month_key
from ._prices import FREE, cost_usd, is_free, price_of, price_source

__all__ = [
    "ALLOW_PAID_UNTIL",
    "Budget",
    "BudgetStatus",
    "FREE",
    "LIFTED_DAY",
    "LIFTED_MONTH",
    "SpendLedger",
    "SpendRow",
    "cost_usd",
    "day_key",
    "default_data_dir",
    "default_ledger_path",
    "is_free",
    "month_key",
    "price_of",
    "price_source",
]
