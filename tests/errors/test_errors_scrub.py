"""scrub_secrets: no credential survives into a message."""

from __future__ import annotations

import pytest

from provider_fallback.errors import scrub_secrets
from provider_fallback.errors._scrub import clip


@pytest.mark.parametrize(("text", "secret"), [
    ("Incorrect API key provided: sk-abc123def456ghi789.", "sk-abc123def456ghi789"),
    ("key sk-proj-AbC_dEf-123456789 rejected", "sk-proj-AbC_dEf-123456789"),
    ("OpenRouter key sk-or-v1-0123456789abcdef0123456789abcdef is invalid", "0123456789abcdef"),
    ("sk-ant-api03-XYZxyz0123456789", "XYZxyz0123456789"),
    ("Groq key gsk_ABCdef0123456789xyzXYZ invalid", "gsk_ABCdef0123456789xyzXYZ"),
    ("Authorization: Bearer xyz.abc-123_DEF", "xyz.abc-123_DEF"),
    ("header was 'bearer tok3n-v4lue'", "tok3n-v4lue"),
    ("GET /v1/models?api_key=abcdef123456&x=1", "abcdef123456"),
    ('{"api_key": "hunter2hunter2"}', "hunter2hunter2"),
    ("master_key: sk-local-dev-1234", "sk-local-dev-1234"),
])
def test_scrub_removes_secret(text: str, secret: str) -> None:
    out = scrub_secrets(text)
    assert secret not in out
    assert "[secret]" in out


@pytest.mark.parametrize("text", [
    "Invalid API Key", "Rate limit reached on tokens per minute (TPM): Limit 6000",
    "max_tokens: 4096 is too large", "Please reduce the length of the messages.",
    "Key Hash (Token) =e3b0c4", "sk-...1234",
])
def test_scrub_leaves_ordinary_text(text: str) -> None:
    assert scrub_secrets(text) == text


def test_bearer_keeps_scheme_word() -> None:
    assert scrub_secrets("Bearer sk-abcdefghijkl") == "Bearer [secret]"


def test_clip() -> None:
    assert clip("a\n  b\tc") == "a b c"
    out = clip("x" * 1000)
    assert len(out) == 500 and out.endswith("…")
