"""Turning an upstream HTTP error answer into a registry Failure.

Order of evidence: structured body fields (`error.code`, `error.type`, OpenRouter
`error.metadata`) through lookup tables, then small keyword rules on the *message*
(never a whole traceback), then the HTTP status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .. import _json
from ._headers import lower_headers, parse_duration, ratelimit_reset_seconds, retry_after_seconds
from ._ratebody import daily_cap_fact, google_quota, openrouter_facts, phrase_facts
from ._registry import spec
from ._scrub import clip, scrub_secrets
from ._types import Failure, RateFact

__all__ = ["classify_response"]

# error.code values (OpenAI, Groq, Anthropic, OpenRouter, LiteLLM) that decide on their own.
CODE_TABLE: Mapping[str, str] = {
    "rate_limit_exceeded": "rate_limit",
    "rate_limit_error": "rate_limit",
    "insufficient_quota": "insufficient_quota",
    "billing_hard_limit_reached": "insufficient_quota",
    "context_length_exceeded": "context_length_exceeded",
    "string_above_max_length": "request_too_large",
    "request_too_large": "request_too_large",
    "model_not_found": "model_not_found",
    "model_decommissioned": "model_decommissioned",
    "invalid_api_key": "invalid_api_key",
    "content_filter": "content_policy",
    "content_policy_violation": "content_policy",
    "moderation_blocked": "content_policy",
    "unknown_url": "endpoint_not_found",
    "tool_use_failed": "tool_call_failed",
    "json_validate_failed": "tool_call_failed",
    "model_overloaded": "overloaded",
    "overloaded": "overloaded",
    "capacity_exceeded": "overloaded",
    "promotion_model_limit_reached": "rate_limit",   # Kilo: anonymous free use used up
}

# error.type values that decide on their own. Generic ones (invalid_request_error,
# server_error, api_error) are left to the status, which says more.
TYPE_TABLE: Mapping[str, str] = {
    "overloaded_error": "overloaded",            # Anthropic 529
    "authentication_error": "invalid_api_key",   # Anthropic 401
    "permission_error": "permission_denied",     # Anthropic 403
    "not_found_error": "model_not_found",        # Anthropic 404
    "request_too_large": "request_too_large",    # Anthropic 413
    "rate_limit_error": "rate_limit",            # Anthropic 429
    "billing_error": "insufficient_quota",
    "insufficient_quota": "insufficient_quota",  # OpenAI 429 quota
    "tokens": "rate_limit",                      # Groq 429 (TPM/TPD)
    "requests": "rate_limit",                    # Groq 429 (RPM/RPD)
    "auth_error": "litellm_auth_failed",         # LiteLLM proxy key check
    "budget_exceeded": "litellm_budget_exceeded",  # LiteLLM proxy budgets
}

STATUS_TABLE: Mapping[int, str] = {
    400: "bad_request", 401: "invalid_api_key", 402: "insufficient_quota",
    403: "permission_denied", 404: "model_not_found", 405: "endpoint_not_found",
    408: "request_timeout", 409: "conflict", 410: "model_decommissioned",
    413: "request_too_large", 422: "unprocessable_entity", 429: "rate_limit",
    498: "overloaded",  # Groq flex tier capacity exceeded
    500: "server_error", 502: "bad_gateway", 503: "service_unavailable",
    504: "gateway_timeout", 529: "overloaded",
    520: "bad_gateway", 521: "bad_gateway", 522: "gateway_timeout", 523: "bad_gateway",
    524: "gateway_timeout",  # Cloudflare origin errors
}

_ANY = frozenset(range(100, 600))
_4XX_NO_429 = frozenset(range(400, 500)) - {429}
_5XX = frozenset(range(500, 600))

# (code, statuses the rule may fire on, pattern on the lower-cased message). First match wins.
MESSAGE_RULES: tuple[tuple[str, frozenset[int], re.Pattern[str]], ...] = (
    ("litellm_budget_exceeded", _ANY, re.compile(
        r"budget (?:has been )?exceeded|exceeded (?:the )?budget|budgetexceedederror")),
    ("litellm_fallbacks_exhausted", _ANY, re.compile(
        r"error doing the fallback|fallbacks? (?:were |are )?exhausted|all fallbacks failed")),
    ("litellm_no_deployments", _ANY, re.compile(r"no deployments available")),
    ("litellm_no_models", _ANY, re.compile(r"no models (?:configured|available|found in config)")),
    ("litellm_config_error", _ANY, re.compile(
        r"config(?:uration)? file not found|configfilenotfound|llm provider not provided"
        r"|environmentvariablenotset")),
    ("litellm_cache_error", _5XX, re.compile(r"could not connect to redis|redisconnectionerror")),
    ("context_length_exceeded", _4XX_NO_429 | {500}, re.compile(
        r"context_length_exceeded|maximum context length|context window|contextwindowexceeded"
        r"|reduce the length of the messages|prompt is too long")),
    ("model_decommissioned", _4XX_NO_429, re.compile(
        r"decommissioned|no longer (?:supported|available)|has been deprecated")),
    ("content_policy", frozenset({400, 403, 422}), re.compile(
        r"content[ _-]?(?:policy|filter|management)|moderation|flagged|safety system"
        r"|contentpolicyviolation")),
    ("model_unavailable", _ANY - {401, 402}, re.compile(
        r"no endpoints found|no (?:allowed )?providers? (?:are |is )?available"
        r"|no available model provider|model is (?:currently )?unavailable")),
    ("model_not_found", frozenset({400, 404, 422}), re.compile(
        r"not a valid model|invalid model name|model\b[^.]{0,80}(?:does not exist|not found)"
        r"|unknown model|no such model")),
    ("endpoint_not_found", frozenset({400, 404, 405}), re.compile(
        r"unknown request url|invalid url|unrecognized request url")),
    ("insufficient_quota", frozenset({400, 402, 403, 429}), re.compile(
        r"insufficient (?:credits|quota|balance|funds)|exceeded your current quota"
        r"|credit balance is too low|out of credits|requires more credits")),
    ("overloaded", _5XX | {498}, re.compile(r"overloaded|over capacity|at capacity|capacity exceeded")),
    ("invalid_api_key", frozenset({400, 401, 403}), re.compile(
        r"invalid api key|incorrect api key|invalid x-api-key|api key not valid|no auth credentials"
        r"|missing (?:api key|authentication)|authenticationerror")),
    ("rate_limit", frozenset({400, 403, 500, 502, 503}), re.compile(
        r"rate limit|ratelimiterror|too many requests|rate-limited")),
    ("bad_gateway", _5XX, re.compile(r"apiconnectionerror")),
)

RATE_LIMIT_CODES = frozenset({"rate_limit", "rate_limit_rpm", "rate_limit_rpd", "rate_limit_tpm",
                              "rate_limit_tpd"})
_RATE_WINDOWS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("rate_limit_tpd", re.compile(r"tokens per day|\btpd\b|daily token")),
    ("rate_limit_rpd", re.compile(r"requests per day|\brpd\b|per-day|daily (?:request )?(?:quota|limit)")),
    ("rate_limit_tpm", re.compile(r"tokens per minute|\btpm\b")),
    ("rate_limit_rpm", re.compile(r"requests per minute|\brpm\b|per-min")),
)
_RETRY_IN = re.compile(r"(?:try again|retry)\s+(?:in|after)\s+(\d[\dhms.]*)"
                       r"(?:\s*(milliseconds?|seconds?|secs?|minutes?|mins?)\b)?")
_WORD_UNIT = {"mi": 0.001, "se": 1.0, "mn": 60.0}
_HTML_TITLE = re.compile(r"(?is)<title[^>]*>(.*?)</title>")
_TAG = re.compile(r"<[^>]+>")


def classify_response(status: int, headers: Mapping[str, str] | None,
                      body: bytes | str | dict[str, Any] | None, *, provider: str | None = None,
                      model: str | None = None, now: float | None = None) -> Failure:
    """Classify a non-2xx upstream answer (or an error object inside a 2xx/stream) as a Failure.

    `headers` may be any mapping (aiohttp CIMultiDict, dict); lookups are case-insensitive.
    `body` may be raw bytes, text, or already-parsed JSON. `now` (Unix time, default
    `time.time()`) is only used to turn HTTP-date / epoch reset headers into seconds.
    """
    h = lower_headers(headers)
    fields = _error_fields(body)
    hint = fields.status_hint
    effective = hint if hint is not None else status
    match_text = _last_line_if_traceback(fields.message).lower()

    google_code, google_facts, google_delay = google_quota(fields.err)
    code = _structured_code(fields) or google_code or _message_code(match_text, effective) \
        or STATUS_TABLE.get(effective) or _status_family(effective)
    if code in RATE_LIMIT_CODES:
        code = _rate_window(code, f"{fields.type} {match_text}")
        if effective == 413:  # Groq: one request larger than the TPM limit; waiting cannot help
            code = "request_too_large"

    retry_after = retry_after_seconds(h, now)
    facts: tuple[RateFact, ...] = ()
    if code in RATE_LIMIT_CODES:
        body_reset = None
        if fields.meta_headers:
            facts, body_reset = openrouter_facts(fields.meta_headers, match_text, now)
        advised = _message_wait(match_text)
        facts = facts or google_facts or phrase_facts(match_text, advised)
        if retry_after is None:
            retry_after = _rate_limit_wait(code, h, match_text, now)
        if retry_after is None:
            retry_after = body_reset if body_reset is not None else google_delay
        if not facts and retry_after is None:
            facts = daily_cap_fact(code, match_text)
    if retry_after is None and code in ("litellm_no_deployments", "overloaded", "model_unavailable"):
        retry_after = _message_wait(match_text)

    detail: dict[str, object] = {}
    for key, value in (("upstream_code", fields.code), ("upstream_type", fields.type),
                       ("upstream_provider", fields.upstream_provider)):
        if value:
            detail[key] = value
    if fields.reasons:
        detail["reasons"] = fields.reasons
    return Failure(spec(code), provider=provider, model=model, status=status,
                   message=clip(scrub_secrets(fields.message)), retry_after=retry_after,
                   detail=detail, rate_facts=facts)


class _Fields:
    """What an error body says, whatever its dialect."""

    __slots__ = ("code", "err", "message", "meta_headers", "reasons", "status_hint", "type",
                 "upstream_provider")

    def __init__(self) -> None:
        self.code = ""
        self.type = ""
        self.message = ""
        self.status_hint: int | None = None
        self.upstream_provider = ""
        self.reasons: list[str] = []
        self.err: dict[str, Any] = {}                     # the error object, parsed
        self.meta_headers: dict[str, Any] | None = None   # OpenRouter error.metadata.headers


def _error_fields(body: bytes | str | dict[str, Any] | None) -> _Fields:
    out = _Fields()
    if body is None:
        return out
    parsed: Any = body
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        text = body.strip()
        if not text:
            return out
        try:
            parsed = _json.loads(text) if text[0] in "{[" else text
        except _json.JSONDecodeError:
            parsed = text
        if isinstance(parsed, str):
            out.message = _html_text(parsed) if _looks_html(parsed) else parsed
            return out
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        parsed = parsed[0]  # some APIs (Google) wrap the error in a list
    if not isinstance(parsed, dict):
        out.message = str(parsed)
        return out
    err = parsed.get("error")
    if isinstance(err, str):
        out.message = err
        err = parsed
    elif not isinstance(err, dict):
        err = parsed
    out.err = err
    out.code = _norm(err.get("code"))
    out.type = _norm(err.get("type"))
    if not out.message:
        msg = err.get("message") or parsed.get("message") or parsed.get("detail") or ""
        out.message = msg if isinstance(msg, str) else _json.dumps(msg).decode()
    for candidate in (err.get("code"), err.get("status"), parsed.get("status")):
        n = _as_status(candidate)
        if n is not None:
            out.status_hint = n
            break
    meta = err.get("metadata")
    if isinstance(meta, dict):
        _read_openrouter_metadata(meta, out)
    return out


def _read_openrouter_metadata(meta: dict[str, Any], out: _Fields) -> None:
    name = meta.get("provider_name")
    if isinstance(name, str):
        out.upstream_provider = name
    headers = meta.get("headers")
    if isinstance(headers, dict):
        out.meta_headers = headers
    reasons = meta.get("reasons")
    if isinstance(reasons, list):
        out.reasons = [str(r) for r in reasons][:10]
    if (reasons or "flagged_input" in meta) and out.code not in CODE_TABLE:
        out.code = "moderation_blocked"  # flagged_input itself is user content: never copied
    raw = meta.get("raw")
    text = raw.strip() if isinstance(raw, str) else ""
    inner: _Fields | None = None
    if isinstance(raw, dict) or text[:1] in ("{", "["):
        inner = _error_fields(raw if isinstance(raw, dict) else text)
        text = inner.message.strip()
        # The upstream's own structured code beats OpenRouter's bare HTTP number.
        if inner.code in CODE_TABLE and out.code not in CODE_TABLE:
            out.code = inner.code
        if inner.type in TYPE_TABLE and not out.type:
            out.type = inner.type
    if text and text not in out.message:
        # "Provider returned error" says nothing; the upstream's own words do.
        out.message = f"{out.message}: {text}" if out.message else text


def _structured_code(fields: _Fields) -> str | None:
    return CODE_TABLE.get(fields.code) or TYPE_TABLE.get(fields.type)


def _message_code(text: str, status: int) -> str | None:
    if not text:
        return None
    for code, statuses, pattern in MESSAGE_RULES:
        if status in statuses and pattern.search(text):
            return code
    return None


def _status_family(status: int) -> str:
    if 400 <= status < 500:
        return "bad_request"
    if 500 <= status < 600:
        return "server_error"
    return "unknown_error"


def _rate_window(code: str, text: str) -> str:
    for window, pattern in _RATE_WINDOWS:
        if pattern.search(text):
            return window
    if code == "rate_limit" and text.startswith("tokens "):
        return "rate_limit_tpm"
    if code == "rate_limit" and text.startswith("requests "):
        return "rate_limit_rpm"
    return code


def _rate_limit_wait(code: str, h: Mapping[str, str], text: str, now: float | None) -> float | None:
    kind = {"rate_limit_rpm": "requests", "rate_limit_rpd": "requests",
            "rate_limit_tpm": "tokens", "rate_limit_tpd": "tokens"}.get(code)
    from_message = _message_wait(text)
    if from_message is not None:  # "Please try again in 7.66s" is the most specific advice
        return from_message
    return ratelimit_reset_seconds(h, kind, now)


def _message_wait(text: str) -> float | None:
    m = _RETRY_IN.search(text)
    if not m:
        return None
    number, word = m.group(1).rstrip("."), m.group(2)
    if word:
        try:
            value = float(number)
        except ValueError:
            return None
        unit = "mn" if word.startswith("min") else word[:2]
        return value * _WORD_UNIT.get(unit, 1.0)
    return parse_duration(number)


def _last_line_if_traceback(message: str) -> str:
    if "traceback (most recent call last)" in message.lower():
        lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
        return lines[-1] if lines else ""
    return message


def _looks_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith("<") and ("<html" in head or "<!doctype" in head or "<head" in head)


def _html_text(text: str) -> str:
    m = _HTML_TITLE.search(text)
    inner = m.group(1) if m else _TAG.sub(" ", text)
    return " ".join(inner.split())


def _norm(value: object) -> str:
    if value is None:
        return ""
    s = str(value).strip().lower()
    return "" if s in ("none", "null") else s


def _as_status(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and value.strip().isdigit():
        n = int(value.strip())
    else:
        return None
    return n if 400 <= n < 600 else None
