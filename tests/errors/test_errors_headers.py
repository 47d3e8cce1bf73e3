"""parse_duration / retry_after_seconds / ratelimit_reset_seconds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from provider_fallback.errors import parse_duration, retry_after_seconds
from provider_fallback.errors._headers import MAX_WAIT_S, ratelimit_reset_seconds

NOW = 1_700_000_000.0


@pytest.mark.parametrize(("text", "seconds"), [
    ("2m59.56s", 179.56), ("7.66s", 7.66), ("120ms", 0.12), ("1h2m3s", 3723.0), ("1h2m", 3720.0),
    ("5", 5.0), ("0.5", 0.5), (" 30s ", 30.0), ("250us", 0.00025), ("1d", 86400.0), ("0s", 0.0),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "-5", "inf", "nan", "5x", "s", "1.2.3s", "2 m", "1e3"])
def test_parse_duration_garbage(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Retry-After": "2"}, 2.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ({"Retry-After": "Tue, 14 Nov 2023 22:15:00 GMT"}, 100.0),  # NOW + 100s
    ({"Retry-After": "Tue, 14 Nov 2023 22:00:00 GMT"}, 0.0),    # in the past: no wait
    ({"retry-after": "99999999"}, MAX_WAIT_S),
    ({}, None), ({"retry-after": "soon"}, None), ({"retry-after-ms": "x"}, None),
])
def test_retry_after_seconds(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers, now=NOW) == (None if seconds is None else pytest.approx(seconds))


def test_retry_after_cimultidict_and_none() -> None:
    assert retry_after_seconds(CIMultiDict([("RETRY-AFTER", "3")])) == 3.0
    assert retry_after_seconds(None) is None


def test_ratelimit_reset() -> None:
    h = {"x-ratelimit-reset-requests": "2m59.56s", "x-ratelimit-reset-tokens": "7.66s"}
    assert ratelimit_reset_seconds(h, "requests") == pytest.approx(179.56)
    assert ratelimit_reset_seconds(h, "tokens") == pytest.approx(7.66)
    assert ratelimit_reset_seconds(h) == pytest.approx(179.56)  # unknown: the longer one
    exhausted = {**h, "x-ratelimit-remaining-tokens": "0", "x-ratelimit-remaining-requests": "12"}
    assert ratelimit_reset_seconds(exhausted) == pytest.approx(7.66)
    assert ratelimit_reset_seconds({"X-RateLimit-Reset": str(int((NOW + 42) * 1000))},
                                   now=NOW) == pytest.approx(42)
    assert ratelimit_reset_seconds({"x-ratelimit-reset": "12"}, now=NOW) == 12.0
    assert ratelimit_reset_seconds({"x-ratelimit-reset": "1m"}, now=NOW) == 60.0
    assert ratelimit_reset_seconds({}, "requests") is None


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.from_regex(r"\A[0-9]{1,3}m[0-9]{1,2}(\.[0-9]{1,3})?s\Z"),
    st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,3})?(s|ms|m)\Z"),
    st.text(alphabet="0123456789.msh٣ ", min_size=1, max_size=8)))
def test_the_quick_duration_read_agrees_with_the_full_grammar(text):
    """"2m59.56s" and "7.66s" skip the regexes; they must read as the grammar reads them."""
    from provider_fallback.errors._headers import _DURATION, _NUMBER, _PART, _UNIT_S
    s = text.strip().lower()
    if not s:
        expected = None
    elif _NUMBER.fullmatch(s):
        expected = float(s)
    elif _DURATION.fullmatch(s):
        expected = sum(float(n) * _UNIT_S[u] for n, u in _PART.findall(s))
    else:
        expected = None
    got = parse_duration(text)
    assert (got is None) == (expected is None)
    if got is not None:
        assert abs(got - expected) < 1e-9 * max(1.0, expected)
