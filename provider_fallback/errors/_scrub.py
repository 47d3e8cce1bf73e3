"""Making provider messages safe to log and return: no secrets, bounded length."""

from __future__ import annotations

import re

from .._redact import mask

__all__ = ["MESSAGE_LIMIT", "clip", "scrub_secrets"]

MESSAGE_LIMIT = 500
_MASK = "[secret]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization values first, so "Bearer sk-..." keeps its scheme word.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{4,}"), rf"\1 {_MASK}"),
    # OpenAI / OpenRouter / Anthropic / LiteLLM (sk-, sk-proj-, sk-or-v1-, sk-ant-).
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"), _MASK),
    # the same glued to a preceding letter or digit ("Xsk-...", "keygsk_..."): prefixes
    # specific enough on their own; a bare "sk-" only when long and with a digit, so that
    # "risk-assessment" stays text
    (re.compile(r"(?:sk-(?:or-v1-|or-|ant-|proj-)|gsk_|xai-)[A-Za-z0-9_\-]{10,}"), _MASK),
    (re.compile(r"sk-(?=[A-Za-z_\-]*[0-9])[A-Za-z0-9_\-]{20,}"), _MASK),
    (re.compile(r"\bgsk_[A-Za-z0-9]{6,}"), _MASK),               # Groq
    (re.compile(r"\bxai-[A-Za-z0-9]{10,}"), _MASK),               # xAI
    (re.compile(r"AIza[0-9A-Za-z_\-]{20,}"), _MASK),              # Google
    (re.compile(r"\b(?:hf|ghp|gho|github_pat)_[A-Za-z0-9_]{10,}"), _MASK),
    # key=value / "api_key": "value" in URLs, JSON fragments and config dumps.
    (re.compile(r"""(?i)\b(api[_-]?key|x-api-key|access[_-]?token|token|secret|password|master[_-]?key)"""
                r"""(["']?\s*[:=]\s*["']?)(?!\[secret\])[^\s"'&,;}]{4,}"""), rf"\1\2{_MASK}"),
)


def scrub_secrets(text: str) -> str:
    """`text` with anything that looks like a credential replaced by `[secret]`.

    First every configured secret of this process (and every 12+ character piece of one,
    see `provider_fallback._redact`), then the shapes: `sk-...` (OpenAI, OpenRouter
    `sk-or-...`, Anthropic, LiteLLM), Groq `gsk_...`, `Bearer`/`Basic` credentials and
    `api_key=...`-style pairs. Call it before `clip`, never after: a cut key is a piece no
    mask recognises.
    """
    text = mask(text)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Whitespace-collapsed `text`, cut to `limit` characters (with an ellipsis)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"
