"""Redactor property: no piece of 12+ characters of a configured secret survives masking,
whatever surrounds it, with or without its known prefix; ordinary text is left alone."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from provider_fallback._redact import MASK, MIN_PIECE, Redactor
from provider_fallback.errors import scrub_secrets
from provider_fallback.errors._scrub import clip

KEY_CHARS = string.ascii_letters + string.digits + "-_"
prefixes = st.sampled_from(["", "gsk_", "sk-or-v1-", "sk-or-", "sk-ant-", "sk-", "sk-proj-"])
keys = st.builds(lambda p, body: p + body, prefixes,
                 st.text(alphabet=KEY_CHARS, min_size=16, max_size=64))
around = st.text(max_size=40)          # any characters, letters glued on included


def leaked(text: str, secret: str) -> list[str]:
    """Every piece of `secret` of MIN_PIECE characters that appears in `text`."""
    return [secret[i:i + MIN_PIECE] for i in range(len(secret) - MIN_PIECE + 1)
            if secret[i:i + MIN_PIECE] in text]


def _pieces(secret: str, draw) -> list[str]:
    start = draw(st.integers(0, len(secret) - MIN_PIECE))
    end = draw(st.integers(start + MIN_PIECE, len(secret)))
    stripped = next((secret[len(p):] for p in ("sk-or-v1-", "sk-or-", "sk-ant-", "sk-proj-",
                                                "sk-", "gsk_") if secret.startswith(p)), secret)
    return [secret, stripped, secret[start:end]]


@settings(max_examples=400, deadline=None)
@given(keys, st.lists(around, min_size=2, max_size=5), st.data())
def test_no_piece_of_a_key_survives(secret, texts, data):
    pieces = _pieces(secret, data.draw)
    chosen = data.draw(st.lists(st.sampled_from(pieces), min_size=1, max_size=len(texts) - 1))
    text = texts[0] + "".join(p + t for p, t in zip(chosen, texts[1:], strict=False))
    masked = Redactor([secret]).mask(text)
    assert leaked(masked, secret) == []
    assert MASK in masked


@settings(max_examples=200, deadline=None)
@given(st.lists(keys, min_size=1, max_size=4), around, st.integers(0, 400))
def test_masking_happens_before_truncation(secrets, filler, offset):
    # the case: a key at offset ~170 of a message cut to 200 characters
    from provider_fallback._redact import REDACTOR

    class Owner:
        pass

    owner = Owner()
    REDACTOR.register(owner, secrets)
    try:
        message = ("x" * offset) + filler + " ".join(secrets) + filler
        out = clip(scrub_secrets(message), 200)
        for secret in secrets:
            assert leaked(out, secret) == []
    finally:
        del owner


@settings(max_examples=200, deadline=None)
@given(keys, st.text(max_size=200))
def test_ordinary_text_is_unchanged(secret, text):
    if leaked(text, secret) or secret in text:
        return
    assert Redactor([secret]).mask(text) == text


def test_short_and_prefixed_values():
    r = Redactor(["abcd", "sk-0123456789"])     # short values: whole occurrences only
    assert r.mask("xabcdx and sk-0123456789 and 0123456789") == \
        f"x{MASK}x and {MASK} and {MASK}"
    assert Redactor(["   "]).mask("   ") == "   "  # blank is no secret


def test_a_released_owners_keys_are_forgotten():
    import gc

    from provider_fallback._redact import REDACTOR, mask

    class Owner:
        pass

    owner = Owner()
    REDACTOR.register(owner, ["owner-secret-0123456789"])
    assert mask("owner-secret-0123456789") == MASK
    del owner
    gc.collect()
    assert mask("owner-secret-0123456789") == "owner-secret-0123456789"
