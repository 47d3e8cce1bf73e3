"""The gateway learns a target's rate-limit headers once a loop step, from its newest
answer of the step, not once an answer (issue 18: ~8% of a request's instructions)."""

from __future__ import annotations

import asyncio

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from provider_fallback.config import config_from_dict
from provider_fallback.limits import _ledger
from provider_fallback.routing._accounting import Accounting
from provider_fallback.telemetry import EventBus


def _headers(remaining: int, **extra: str) -> CIMultiDictProxy[str]:
    """As the upstream pool hands them over (case-insensitive, read-only)."""
    return CIMultiDictProxy(CIMultiDict({
        "x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": "30s", **extra}))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = _ledger.read_ratelimit_headers

    def counted(headers, wall=None):   # type: ignore[no-untyped-def]
        seen.append(int(headers["x-ratelimit-remaining-requests"]))
        return real(headers, wall)

    monkeypatch.setattr(_ledger, "read_ratelimit_headers", counted)
    return seen


def _accounting() -> tuple[Accounting, object]:
    cfg = config_from_dict({
        "providers": [{"name": "groq", "base_url": "https://api.groq.com/openai/v1"}],
        "models": {"m": ["groq/llama-3.3-70b-versatile"]},
        "health": {"enabled": False}}, environ={})
    return Accounting(cfg, EventBus(), clock=lambda: 100.0), cfg.chains["m"].targets[0]


async def test_one_steps_answers_of_a_target_are_read_once_from_the_newest(reads: list[int]) -> None:
    acct, target = _accounting()
    for remaining in (60, 59, 58):         # three answers of one loop step
        acct.learn_soon(target, _headers(remaining))
    assert reads == []                     # nothing read on the answers' own path
    await asyncio.sleep(0)                 # the end of the step
    assert reads == [58]
    view = acct.limits_view(target, 100.0)["rpd"]   # Groq: requests are per day
    assert view["source"] == "learned" and view["limit"] == 100 and view["remaining"] == 58
    acct.learn_soon(target, _headers(57))  # the next step reads its own newest again
    await asyncio.sleep(0)
    assert reads == [58, 57]


async def test_a_retry_after_is_learned_at_once(reads: list[int]) -> None:
    acct, target = _accounting()
    acct.learn_soon(target, _headers(0, **{"retry-after": "7"}))
    assert reads == [0]                    # not left for the end of the step
    assert acct.limits.view(target, 100.0)["blocked_s"] == 7.0
    acct.learn_soon(target, {"x-ratelimit-remaining-requests": "5"})  # not the pool's: at once
    assert reads == [0, 5]
