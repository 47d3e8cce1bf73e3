"""JSON in one place: orjson when present (fast path), stdlib json otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["JSONDecodeError", "dumps", "loads"]

try:
    import orjson

    JSONDecodeError: type[Exception] = orjson.JSONDecodeError

    # bound directly: a wrapper function would cost a call per stream chunk
    dumps: Callable[[Any], bytes] = orjson.dumps
    loads: Callable[[bytes | str], Any] = orjson.loads

except ImportError:  # pragma: no cover - exercised only without orjson
    import json

    JSONDecodeError = json.JSONDecodeError

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(data: bytes | str) -> Any:
        return json.loads(data)
