"""Manual control of providers (the admin API and CLI): disable, enable, restore, force."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._breaker import Breaker, CircuitState

if TYPE_CHECKING:
    from ..config import Config, Target
    from ..state import RoutingState
    from ..telemetry import EventBus

__all__ = ["ManualControl"]


class ManualControl:
    """The admin half of HealthTracker (it provides these attributes)."""

    config: Config
    state: RoutingState
    events: EventBus
    clock: Callable[[], float]
    breaker: Breaker
    _targets: dict[str, list[Target]]

    # -- manual control ----------------------------------------------------------------
    def _known(self, provider: str) -> None:
        if provider not in self.config.providers:
            from ..errors import InvalidRequestError
            raise InvalidRequestError(f"unknown provider '{provider}'; known: "
                                      f"{', '.join(self.config.providers)}",
                                      code="not_found", http_status=404)

    def _members(self, provider: str) -> tuple[str, ...]:
        """A provider with several keys acts as one (`groq` is groq, groq#2, ...);
        `groq#2` is that key alone."""
        self._known(provider)
        family = self.config.families.get(provider)
        return (provider,) if family is None else tuple(p.name for p in family)

    def disable(self, provider: str, seconds: float | None = None) -> None:
        now = self.clock()
        for name in self._members(provider):
            self.state.set_disabled(name, math.inf if seconds is None else now + seconds)
        self.events.emit("PROVIDER_DISABLED", provider=provider, for_s=seconds)

    def enable(self, provider: str) -> None:
        for name in self._members(provider):
            self.state.set_disabled(name, None)
        self.events.emit("PROVIDER_ENABLED", provider=provider)

    def restore(self, provider: str) -> None:
        """Close every circuit of the provider (forgetting their growth) and lift a disable."""
        for name in self._members(provider):
            self._restore(name)
        self.events.emit("RESTORED", provider=provider, target=None, manual=True)

    def _restore(self, provider: str) -> None:
        now = self.clock()
        self.state.set_disabled(provider, None)
        for key in [provider, *(t.key for t in self._targets[provider])]:
            c = self.state.circuit(key)
            if c is not None and c.state is not CircuitState.CLOSED:
                opened_at = c.opened_at
                self.breaker.reset(c, now)
                self.state.put_circuit(c)
                self.events.emit("CIRCUIT_CLOSED", key=key, downtime_s=round(now - opened_at, 3),
                                 was="manual", generation=c.generation)

    def force(self, provider: str | None) -> None:
        if provider is not None:
            self._known(provider)
        self.state.set_forced(provider)
        self.events.emit("PROVIDER_FORCED" if provider else "PROVIDER_UNFORCED", provider=provider)

