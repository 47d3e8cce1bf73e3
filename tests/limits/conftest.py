from __future__ import annotations

import pytest
from limits_support import Clocks

from provider_fallback.limits import RateLedger


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def ledger(clocks: Clocks) -> RateLedger:
    return RateLedger(wall=clocks)
