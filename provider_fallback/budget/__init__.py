"""Cost and budget: prices per target, a SQLite spend ledger, limits and the kill switch.

`price_of(target)` and `cost_usd(...)` price an answer; `SpendLedger` keeps spend per
(UTC day, provider, model) without I/O on the request path; `Budget` turns spend into a
status (OK / WARNING / CRITICAL / EXCEEDED) and, past the limit, `allows()` only free
targets.
"""

from ._budget import ALLOW_PAID_UNTIL, LIFTED_DAY, LIFTED_MONTH, Budget, BudgetStatus
from ._ledger import SpendLedger, SpendRow, default_data_dir, default_ledger_path
from ._periods import day_key, month_key
from ._prices import FREE, PriceTable, cost_usd, default_prices, is_free, price_of

__all__ = [
    "ALLOW_PAID_UNTIL",
    "Budget",
    "BudgetStatus",
    "FREE",
    "LIFTED_DAY",
    "LIFTED_MONTH",
    "PriceTable",
    "SpendLedger",
    "SpendRow",
    "cost_usd",
    "day_key",
    "default_data_dir",
    "default_ledger_path",
    "default_prices",
    "is_free",
    "month_key",
    "price_of",
]
