"""A request body as a JSON object, with the nesting bounded before anything uses it.

orjson parses up to 1,024 levels but serialises only 254, so a body nested 255-1,024 deep
used to be accepted and then fail when forwarded (a 500). Nothing in an OpenAI-format
request needs more than a dozen levels; deeper than MAX_JSON_DEPTH is refused up front.
"""

from __future__ import annotations

from typing import Any

from .. import _json
from ..errors import InvalidRequestError

__all__ = ["MAX_JSON_DEPTH", "json_depth_exceeds", "json_object"]

MAX_JSON_DEPTH = 64


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if `value` nests lists/objects more than `limit` levels deep (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def json_object(raw: bytes, what: str = "request body") -> dict[str, Any]:
    """`raw` parsed as a JSON object, or InvalidRequestError (400) saying what is wrong."""
    try:
        body = _json.loads(raw)
    except (_json.JSONDecodeError, RecursionError, ValueError):
        raise InvalidRequestError(f"{what} is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequestError(f"{what} must be a JSON object", code="invalid_request")
    # fewer brackets than the limit cannot nest deeper: the walk is skipped for most bodies
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and json_depth_exceeds(body):
        raise InvalidRequestError(f"{what} nests JSON deeper than {MAX_JSON_DEPTH} levels",
                                  code="invalid_request")
    return body
