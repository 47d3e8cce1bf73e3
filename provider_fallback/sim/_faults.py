"""What a simulated provider should do wrong, as a value."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Fault"]


@dataclass
class Fault:
    """One misbehaviour; every field is optional and they combine.

    `status` answers with that HTTP status and an error body in `flavor` format. The
    stream fields act after N content chunks. `times` makes the fault expire after N uses;
    `chance` makes it apply to that share of requests only (a seeded draw per request, the
    request still counts as a use).
    """

    status: int | None = None
    flavor: str | None = None          # None: the provider's own flavor
    code: str | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    latency: float = 0.0
    first_token_delay: float = 0.0
    stall_after: int | None = None     # a non-stream answer: its head and half its body
    cut_after: int | None = None
    malformed_after: int | None = None
    cut_random: bool = False           # cut after a random number of content chunks (1..n-1)
    error_after: int | None = None     # an in-band error event (OpenRouter's shape) after N chunks
    error_status: int = 502            # the error event's `error.code`
    error_message: str = "Provider returned error"
    error_finish_only: bool = False    # the error event says only `finish_reason: "error"`
    unfinished_choice: int | None = None   # with n > 1: this choice never gets a finish_reason
    garbage: bytes | None = None       # a 200 non-stream answer with this body
    no_done: bool = False
    reset: bool = False
    hang: bool = False
    times: int | None = None
    chance: float = 1.0
    # the fault's status (and message) also answer GET /models: probes and doctor see it
    on_models: bool = False
    # a 429 whose reset is only in the body (OpenRouter's error.metadata.headers, Unix ms),
    # this many seconds ahead; no Retry-After or rate-limit headers
    body_reset: float | None = None

    @property
    def name(self) -> str:
        for attr in ("reset", "hang", "no_done"):
            if getattr(self, attr):
                return attr
        for attr in ("stall_after", "cut_after", "malformed_after", "error_after",
                     "unfinished_choice"):
            if getattr(self, attr) is not None:
                return f"{attr}={getattr(self, attr)}"
        if self.cut_random:
            return "cut_random"
        if self.garbage is not None:
            return "garbage"
        if self.status is not None:
            return f"status={self.status}"
        if self.first_token_delay:
            return "slow_first_token"
        if self.latency:
            return "latency"
        return "none"

    @classmethod
    def parse(cls, text: str) -> Fault:
        """From a CLI word: '503', '429', 'hang', 'reset', 'stall', 'cut', 'malformed',
        'error-event', 'garbage', 'no-done', 'slow'."""
        t = text.strip().lower()
        if t.isdigit():
            return cls(status=int(t), retry_after=5 if t == "429" else None)
        words = {"hang": cls(hang=True), "reset": cls(reset=True), "stall": cls(stall_after=2),
                 "cut": cls(cut_after=2), "malformed": cls(malformed_after=2),
                 "error-event": cls(error_after=2), "garbage": cls(garbage=b'{"id": "x"}'),
                 "no-done": cls(no_done=True), "slow": cls(first_token_delay=30)}
        if t not in words:
            raise ValueError(f"unknown fault '{text}': use an HTTP status or one of {', '.join(words)}")
        return words[t]
