"""Realistic error bodies in each provider's own format."""

from __future__ import annotations

from typing import Any

__all__ = ["FLAVORS", "error_body", "openrouter_rate_body"]

FLAVORS = ("openai", "groq", "openrouter", "anthropic", "litellm", "kilo")

_DEFAULT_MESSAGES = {
    400: "Bad request", 401: "Invalid API Key", 402: "Insufficient credits",
    403: "Forbidden", 404: "The model does not exist or you do not have access to it.",
    408: "Request timeout", 409: "Conflict", 413: "Request too large",
    422: "Unprocessable entity", 429: "Rate limit reached", 500: "Internal server error",
    502: "Bad gateway", 503: "Service Unavailable", 504: "Gateway timeout", 529: "Overloaded",
}
_OPENAI_CODES = {401: "invalid_api_key", 402: "insufficient_quota", 404: "model_not_found",
                 429: "rate_limit_exceeded", 503: "service_unavailable"}
_OPENAI_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 402: "insufficient_quota",
                 403: "permission_error", 404: "invalid_request_error", 429: "requests",
                 500: "internal_server_error", 503: "internal_server_error"}
_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                    500: "api_error", 529: "overloaded_error", 503: "overloaded_error"}


def groq_rate_message(model: str, kind: str = "requests per minute (RPM)", limit: int = 30,
                      wait: float = 2.0) -> str:
    return (f"Rate limit reached for model `{model}` in organization `org_sim` service tier "
            f"`on_demand` on {kind}: Limit {limit}, Used {limit}, Requested 1. "
            f"Please try again in {wait:g}s.")


def openrouter_rate_body(limit: int, remaining: int, reset_in: float, *,
                         wall: float | None = None) -> dict[str, Any]:
    """OpenRouter's 429 for its free-model caps: the reset (Unix ms) only in the body."""
    import time

    cap = "free-models-per-day" if reset_in > 60 else "free-models-per-min"
    extra = (" Add 10 credits to unlock 1000 free model requests per day"
             if cap.endswith("day") else " ")
    reset_ms = int(((time.time() if wall is None else wall) + reset_in) * 1000)
    return {"error": {"message": f"Rate limit exceeded: {cap}.{extra}", "code": 429,
                      "metadata": {"headers": {"X-RateLimit-Limit": str(limit),
                                               "X-RateLimit-Remaining": str(remaining),
                                               "X-RateLimit-Reset": str(reset_ms)},
                                   "provider_name": None}},
            "user_id": "user_sim"}


def error_body(flavor: str, status: int, model: str, *, code: str | None = None,
               message: str | None = None) -> dict[str, Any]:
    """The JSON error body a real provider of `flavor` sends for `status`."""
    msg = message or _DEFAULT_MESSAGES.get(status, f"HTTP {status}")
    if flavor == "kilo":
        # Kilo Code's gateway: OpenRouter's shapes, plus its own codes (from Kilo CLI 7.7.9,
        # which reads `error.code`; the statuses are this sim's assumption)
        if status == 429 and code is None and message is None:
            return {"error": {"code": "PROMOTION_MODEL_LIMIT_REACHED",
                              "message": "Sign up for free to continue and explore 500 other "
                                         "models. Or come back later."}}
        if status == 401 and code is None and message is None:
            return {"error": {"code": "PAID_MODEL_AUTH_REQUIRED",
                              "message": "You need to sign in to use this model"}}
        flavor = "openrouter"
    if flavor == "anthropic":
        return {"type": "error", "error": {"type": code or _ANTHROPIC_TYPES.get(status, "api_error"),
                                           "message": msg}}
    if flavor == "openrouter":
        if status == 404 and message is None:
            msg = f"No endpoints found for {model}."
        body: dict[str, Any] = {"error": {"code": status, "message": msg}}
        if code:
            body["error"]["metadata"] = {"code": code}
        if status == 429:
            body["error"]["metadata"] = {"headers": {"X-RateLimit-Limit": "20"}}
        return {**body, "user_id": "user_sim"}
    if flavor == "litellm":
        prefix = {401: "Authentication Error, Invalid proxy server token passed. ",
                  429: "litellm.RateLimitError: ", 503: "litellm.ServiceUnavailableError: "}
        return {"error": {"message": prefix.get(status, "") + msg,
                          "type": "auth_error" if status == 401 else "None",
                          "param": "None", "code": str(status)}}
    # openai and groq share a shape
    if flavor == "groq" and status == 429 and message is None:
        msg = groq_rate_message(model)
    return {"error": {"message": msg, "type": _OPENAI_TYPES.get(status, "server_error"),
                      "code": code or _OPENAI_CODES.get(status)}}
