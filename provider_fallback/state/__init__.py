"""Routing state behind one interface: memory backend now, Redis beside it later."""

from ._base import RoutingState, TargetStats
from ._memory import MemoryState

__all__ = ["MemoryState", "RoutingState", "TargetStats"]
