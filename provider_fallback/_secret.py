"""A value that never prints itself: keys and master keys travel as Secret."""

from __future__ import annotations

import hmac

__all__ = ["Secret"]


class Secret:
    """Wraps a secret string. `str`/`repr`/format show `[secret]`; only `.reveal()` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The raw value. Only the HTTP layer (auth headers) should call this."""
        return self._value

    def matches(self, candidate: str | bytes) -> bool:
        """Constant-time comparison against a presented value, exactly as presented
        (bytes, as from an HTTP header, are compared with the value's UTF-8)."""
        if isinstance(candidate, str):
            candidate = candidate.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(self._value.encode("utf-8", "surrogateescape"), candidate)

    def __repr__(self) -> str:
        return "Secret('[secret]')"

    def __str__(self) -> str:
        return "[secret]"

    def __format__(self, spec: str) -> str:
        return "[secret]"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)
