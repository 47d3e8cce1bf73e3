"""What the simulator does wrong, and which request it does it to."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

__all__ = ["FLAVORS", "Fault", "FaultBook"]

FLAVORS = ("groq", "openrouter", "openai", "anthropic", "litellm")


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do to a matching request. Every field is optional; combine freely.

    Order of effects: `latency` (plus `first_token_delay` for non-streaming requests),
    then `reset`, `hang`, or an error answer with `status`; otherwise the request is
    answered normally and the streaming fields (`first_token_delay`, `stall_after`,
    `cut_after`, `malformed_after`, `no_done`) shape the stream. Counts in the streaming
    fields are *content* chunks; the opening role chunk is always sent first.
    """

    status: int | None = None
    flavor: str = "openai"
    code: str | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    latency: float = 0.0
    first_token_delay: float = 0.0
    stall_after: int | None = None
    cut_after: int | None = None
    malformed_after: int | None = None
    no_done: bool = False
    reset: bool = False
    hang: bool = False
    times: int | None = None

    def __post_init__(self) -> None:
        if self.flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {', '.join(FLAVORS)}, not {self.flavor!r}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status, not {self.status}")
        for name in ("latency", "first_token_delay", "retry_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("stall_after", "cut_after", "malformed_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 (use set_fault(None) to clear)")

    @property
    def label(self) -> str:
        """A short name for the request log: "reset", "hang", "503", "cut", "slow", ..."""
        if self.reset:
            return "reset"
        if self.hang:
            return "hang"
        if self.status is not None:
            return str(self.status)
        if self.code is not None:
            return self.code
        for name in ("cut_after", "stall_after", "malformed_after"):
            if getattr(self, name) is not None:
                return name.removesuffix("_after").replace("malformed", "malformed_chunk")
        if self.no_done:
            return "no_done"
        return "slow"

    @property
    def streaming_only(self) -> bool:
        """True when the fault changes nothing before the stream starts."""
        return not (self.reset or self.hang or self.status is not None or self.code is not None)


class _Entry:
    __slots__ = ("fault", "left")

    def __init__(self, fault: Fault, left: int | None) -> None:
        self.fault = fault
        self.left = left  # uses left; None = until cleared


class FaultBook:
    """Standing faults and scripted queues, keyed by model or "*". Safe to change from any thread."""

    __slots__ = ("_lock", "_queues", "_standing", "armed")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._standing: dict[str, _Entry] = {}
        self._queues: dict[str, deque[_Entry]] = {}
        self.armed = False  # read without the lock: the healthy path stays lock-free

    def set(self, fault: Fault | None, model: str = "*") -> None:
        with self._lock:
            if fault is None:
                self._standing.pop(model, None)
            else:
                self._standing[model] = _Entry(fault, fault.times)
            self._rearm()

    def push(self, fault: Fault, model: str = "*") -> None:
        with self._lock:
            self._queues.setdefault(model, deque()).append(_Entry(fault, fault.times or 1))
            self._rearm()

    def clear(self) -> None:
        with self._lock:
            self._standing.clear()
            self._queues.clear()
            self._rearm()

    def take(self, model: str) -> Fault | None:
        """The fault for this request, consuming one use of it; None when healthy."""
        if not self.armed:
            return None
        with self._lock:
            for key in (model, "*"):
                queue = self._queues.get(key)
                if queue:
                    entry = queue[0]
                    entry.left = (entry.left or 1) - 1
                    if entry.left == 0:
                        queue.popleft()
                        self._rearm()
                    return entry.fault
            for key in (model, "*"):
                standing = self._standing.get(key)
                if standing is not None:
                    if standing.left is not None:
                        standing.left -= 1
                        if standing.left == 0:
                            del self._standing[key]
                            self._rearm()
                    return standing.fault
        return None

    def _rearm(self) -> None:
        self.armed = bool(self._standing) or any(self._queues.values())
