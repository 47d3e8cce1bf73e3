"""Routing state behind one interface: in this process (memory) or shared through Redis."""

from ._base import Peers, RoutingState, TargetStats, Usage
from ._factory import make_state
from ._memory import MemoryState

__all__ = ["MemoryState", "Peers", "RoutingState", "TargetStats", "Usage", "make_state"]
