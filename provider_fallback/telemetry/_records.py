"""One record per client request, handed to listeners (metrics, request log) when it ends.

The router builds it; listeners must be quick and must not block (queue I/O elsewhere).
No prompt text here: `content` is filled only when `log_content: true`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ..errors import Attempt

__all__ = ["CLIENT_PROTOCOL", "PROTOCOLS", "RequestListeners", "RequestRecord"]

log = logging.getLogger("provider_fallback.telemetry")

# The client wire format of the request being routed ("messages", "responses"), set by the
# gateway's endpoint around `router.request`; a record made without it takes its endpoint.
CLIENT_PROTOCOL: ContextVar[str | None] = ContextVar("provider_fallback_protocol", default=None)
PROTOCOLS = frozenset({"chat", "embeddings", "messages", "responses"})   # bounded label values


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    alias: str                       # the model the client asked for
    endpoint: str                    # "chat" or "embeddings"
    stream: bool
    started: float                   # wall clock (time.time)
    outcome: str = "ok"              # "ok" or the registry code of the final error
    http_status: int = 200
    provider: str | None = None      # who answered (None on failure)
    model: str | None = None
    attempts: tuple[Attempt, ...] = ()
    latency_ms: float = 0.0          # whole request, as the client saw it (stream: to the end)
    upstream_ms: float = 0.0         # time spent waiting on providers (sum of attempts)
    queue_ms: float = 0.0            # time spent in the rate-limit wait queue
    ttft_ms: float | None = None     # streams: time to the first content chunk
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    skipped: tuple[str, ...] = ()    # "provider/model: code: detail" for targets not tried
    usage_estimated: bool = False    # some tokens were estimated (the upstream sent no usage)
    continuations: int = 0           # times a broken stream was continued on another target
    content: dict[str, Any] | None = field(default=None, repr=False)
    protocol: str = ""               # the client's wire format: chat | embeddings | messages | responses

    def __post_init__(self) -> None:
        if not self.protocol:
            self.protocol = CLIENT_PROTOCOL.get() or self.endpoint

    @property
    def overhead_ms(self) -> float:
        """Gateway time: total minus provider waits and queueing."""
        return max(0.0, self.latency_ms - self.upstream_ms - self.queue_ms)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "request_id": self.request_id, "alias": self.alias, "endpoint": self.endpoint,
            "stream": self.stream, "started": round(self.started, 3), "outcome": self.outcome,
            "http_status": self.http_status, "provider": self.provider, "model": self.model,
            "attempts": [a.as_dict() for a in self.attempts],
            "latency_ms": round(self.latency_ms, 2), "upstream_ms": round(self.upstream_ms, 2),
            "queue_ms": round(self.queue_ms, 2), "overhead_ms": round(self.overhead_ms, 2),
            "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 2),
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd, "skipped": list(self.skipped),
            "usage_estimated": self.usage_estimated, "continuations": self.continuations,
            "protocol": self.protocol}
        if self.content is not None:
            d["content"] = self.content
        return d


class RequestListeners:
    """Callables run for every finished request; a failing listener is logged, never raised."""

    def __init__(self) -> None:
        self._fns: list[Callable[[RequestRecord], None]] = []

    def add(self, fn: Callable[[RequestRecord], None]) -> Callable[[], None]:
        self._fns.append(fn)
        return lambda: self._fns.remove(fn) if fn in self._fns else None

    def __bool__(self) -> bool:
        return bool(self._fns)

    def emit(self, record: RequestRecord) -> None:
        for fn in self._fns:
            try:
                fn(record)
            except Exception:
                log.exception("request listener failed")
