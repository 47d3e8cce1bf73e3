"""The backend named in `state:`: memory (default) or Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._memory import MemoryState

if TYPE_CHECKING:
    from ..config import Config
    from ..telemetry import EventBus
    from ._base import RoutingState

__all__ = ["make_state"]


def make_state(config: Config, events: EventBus | None = None, *,
               clock: Callable[[], float] = time.monotonic) -> RoutingState:
    settings = config.state
    if settings.backend == "redis":
        from ._redis import RedisState

        return RedisState(settings, circuit_window=config.circuit.window, events=events,
                          clock=clock)
    return MemoryState()
