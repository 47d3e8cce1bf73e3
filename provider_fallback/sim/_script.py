"""What a simulated provider answers: a deterministic text, continued after a prefill.

Every sim answers one canonical text per model (its `reply` template); a request whose last
message is an assistant prefix of that text is answered with the rest, the way a
prefill-capable model continues a partial answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["continuation_of", "normalised", "pieces", "prefill_of", "split_args"]

_TOKEN = re.compile(r"\s*\S+")
_WS = re.compile(r"\s+")


def normalised(text: str) -> str:
    """Whitespace runs collapsed to one space: how continuation compares texts."""
    return _WS.sub(" ", text)


def prefill_of(messages: Any) -> str | None:
    """The assistant prefix to continue, when the last message is an assistant's text."""
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return None
    content = last.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else None


def continuation_of(text: str, prefix: str) -> str | None:
    """The rest of `text` after `prefix` (compared with whitespace normalised), or None
    when `prefix` is not a prefix of `text`."""
    want = normalised(prefix)
    if not normalised(text).startswith(want):
        return None
    # walk `text` until its normalised form has covered the prefix
    seen, i, n = 0, 0, len(want)
    while i < len(text) and seen < n:
        if text[i].isspace():
            j = i
            while j < len(text) and text[j].isspace():
                j += 1
            i = j
        else:
            i += 1
        seen += 1
    rest = text[i:]
    return rest.lstrip() if prefix[-1:].isspace() else rest


def pieces(text: str, chunk_count: int) -> list[str]:
    """`text` cut into `chunk_count` equal pieces, or one piece per word when it is 0."""
    if not text:
        return []
    if chunk_count <= 0:
        return _TOKEN.findall(text) or [text]
    size = max(1, math.ceil(len(text) / chunk_count))
    return [text[i:i + size] for i in range(0, len(text), size)]


def split_args(args: str, parts: int) -> Sequence[str]:
    """Tool-call arguments streamed in `parts` pieces, as models do."""
    size = max(1, math.ceil(len(args) / max(1, parts)))
    return [args[i:i + size] for i in range(0, len(args), size)] or [""]
