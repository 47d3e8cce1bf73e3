"""Memory the gateway keeps per request: bytes held through an attempt are of their own size.

orjson returns the buffer it grew (4 KiB for a 60-byte body, about 13 times the text for
a 10 kB one): an upstream request body held while the request waits for a pooled
connection must not carry that. Sizes are read with tracemalloc (allocations, not time).
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from provider_fallback import _json
from provider_fallback.providers._anthropic import ANTHROPIC
from provider_fallback.providers._dialects import OPENAI

SMALL = {"model": "m1", "messages": [{"role": "user", "content": "Write a haiku."}],
         "stream": True}
LARGE = {"model": "m1", "messages": [{"role": "user", "content": "x" * 10_000}]}


def allocated(make: Any) -> tuple[Any, int]:
    """What `make()` returns and the bytes still allocated for it afterwards."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        value = make()
        return value, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("body", [SMALL, LARGE], ids=["small", "10kB"])
def test_dumps_kept_is_dumps_in_its_own_size(body: dict[str, Any]) -> None:
    kept, size = allocated(lambda: _json.dumps_kept(body))
    assert kept == _json.dumps(body)
    assert size <= len(kept) + 256


@pytest.mark.parametrize("body", [SMALL, LARGE], ids=["small", "10kB"])
def test_upstream_bodies_are_of_their_own_size(body: dict[str, Any]) -> None:
    for dialect in (OPENAI, ANTHROPIC):
        payload, size = allocated(lambda d=dialect: d.encode(body))
        assert _json.loads(payload)
        assert size <= len(payload) + 256, dialect
