"""Anthropic wire shapes shared by the Messages answer and its stream: errors, usage,
stop reasons, ids."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import AllProvidersFailedError, ProviderFallbackError
from ._base import Answered, usage_numbers

__all__ = ["anthropic_error", "anthropic_error_type", "anthropic_usage", "message_id",
           "stop_reason"]

_FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
           "function_call": "tool_use", "content_filter": "refusal"}
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                402: "billing_error", 403: "permission_error", 404: "not_found_error",
                413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                504: "timeout_error", 529: "overloaded_error"}
_OVERLOADED = frozenset({"overloaded", "all_providers_failed", "service_unavailable",
                         "model_unavailable"})


def stop_reason(finish: Any, tools: bool, matched: Any, stops: Sequence[str]
                ) -> tuple[str, str | None]:
    """Anthropic (stop_reason, stop_sequence) for a chat finish_reason.

    A chat answer does not say which stop sequence ended it; `matched` is the choice's
    `stop_reason` where an upstream sends it (vLLM does, and so does the Anthropic dialect).
    Tool calls are `tool_use` even when an upstream says `stop` with them.
    """
    if tools and finish in (None, "stop", "tool_calls", "function_call"):
        return "tool_use", None
    if finish == "stop" and isinstance(matched, str) and matched in stops:
        return "stop_sequence", matched
    return _FINISH.get(finish, "end_turn") if isinstance(finish, str) else "end_turn", None


def message_id(who: Answered) -> str:
    return f"msg_{who.request_id}" if who.request_id else f"msg_{time.time_ns():x}"


def anthropic_error_type(exc: ProviderFallbackError) -> str:
    """Anthropic's `error.type` for a gateway error (its status decides, with a few codes)."""
    code = exc.code
    if code in _OVERLOADED or code.startswith("overload"):
        return "overloaded_error"
    if code.startswith("rate_limit") or code == "queue_full":
        return "rate_limit_error"
    if code in ("budget_exceeded", "insufficient_quota"):
        return "billing_error"
    status = exc.http_status
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    if 400 <= status < 500:
        return "invalid_request_error"
    return "timeout_error" if code.startswith("timeout") else "api_error"


def anthropic_error(exc: ProviderFallbackError, facts: Any = None) -> dict[str, Any]:
    """`{"type": "error", "error": {"type": ..., "message": ...}}` plus the registry code,
    provider, model, resolution (and attempts, when every provider failed)."""
    err = exc.to_openai_error(facts)["error"]
    err.pop("param", None)
    err["type"] = anthropic_error_type(exc)
    if isinstance(exc, AllProvidersFailedError) and exc.last is not None and exc.last.message:
        err["message"] = f"{exc.message}; last error: {exc.last.message}"[:2000]
    return {"type": "error", "error": err}


def anthropic_usage(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """Anthropic usage from an OpenAI usage: input excludes cached tokens, as Anthropic's does."""
    prompt, completion, cache_read, creation, _ = usage_numbers(usage)
    out: dict[str, Any] = {"input_tokens": max(0, prompt - (cache_read or 0) - (creation or 0)),
                           "output_tokens": completion}
    if creation is not None:
        out["cache_creation_input_tokens"] = creation
    if cache_read is not None:
        out["cache_read_input_tokens"] = cache_read
    return out
