"""Human durations ("250ms", "30s", "1h30m") and sizes ("20MiB", "512KB") as plain numbers."""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "format_size", "parse_duration_value", "parse_size"]

_DURATION_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)")
_DURATION = re.compile(r"(?:(?:\d+(?:\.\d+)?|\.\d+)\s*(?:ms|s|m|h|d)\s*)+")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)")

_SIZE_UNIT = {"": 1, "b": 1,
              "kb": 1000, "mb": 1000**2, "gb": 1000**3,
              "kib": 1024, "mib": 1024**2, "gib": 1024**3,
              "k": 1024, "m": 1024**2, "g": 1024**3}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def parse_duration_value(value: object) -> float:
    """Seconds from a number (seconds) or a string like "250ms", "30s", "5m", "1h", "1h30m".

    Raises ValueError (with the accepted forms) for anything else, including negatives.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30, '30s', '250ms', '5m' or '1h', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        elif _DURATION.fullmatch(text):
            seconds = sum(float(n) * _DURATION_UNIT_S[u] for n, u in _DURATION_PART.findall(text))
        else:
            raise ValueError(f"expected a duration like 30, '30s', '250ms', '5m', '1h' or "
                             f"'1h30m', got {value!r}")
    else:
        raise ValueError(f"expected a duration like 30 or '30s', got {type(value).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {value!r}")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from an int or a string like "20MiB", "512KB", "1MB", "1GiB" (KB=1000, KiB=1024)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like 20971520 or '20MiB', got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, float) and value.is_integer():
        size = int(value)
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip().lower())
        if match is None or match.group(2) not in _SIZE_UNIT:
            raise ValueError(f"expected a size like '20MiB', '512KB', '1MB' or '1GiB', got {value!r}")
        size = int(float(match.group(1)) * _SIZE_UNIT[match.group(2)])
    else:
        raise ValueError(f"expected a size like 20971520 or '20MiB', got {value!r}")
    if size < 0:
        raise ValueError(f"a size must be >= 0 bytes, got {value!r}")
    return size


def format_duration(seconds: float) -> str:
    """The shortest readable form: 0.25 -> "250ms", 90 -> "90s", 1800 -> "30m"."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    for unit, factor in (("h", 3600.0), ("m", 60.0)):
        if seconds >= factor and seconds % factor == 0:
            return f"{seconds / factor:g}{unit}"
    return f"{seconds:g}s"


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"
