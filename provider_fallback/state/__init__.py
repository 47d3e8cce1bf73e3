"""Routing state behind one interface: in this process (memory) or shared through Redis."""

from ._base import RoutingState, TargetStats
from ._factory import make_state
from ._memory import MemoryState

__all__ = ["MemoryState", "RoutingState", "TargetStats", "make_state"]
