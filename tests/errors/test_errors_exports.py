"""The public surface of provider_fallback.errors."""

from __future__ import annotations

import provider_fallback.errors as errors

EXPECTED = {
    "REGISTRY", "spec", "classify_response", "classify_exception", "parse_duration",
    "retry_after_seconds", "scrub_secrets", "ErrorSpec", "Failure", "Fault", "Scope",
    "AllProvidersFailedError", "Attempt", "ConfigError", "InvalidRequestError",
    "ProviderFallbackError", "StreamInterruptedError", "UpstreamError",
    "Facts", "Shell", "Step", "render_steps", "sh",
    "CIRCUIT_RULES", "CircuitRule", "OpenClass", "Strike", "circuit_rule",
}


def test_all_is_sorted_and_complete() -> None:
    assert errors.__all__ == sorted(errors.__all__)
    assert set(errors.__all__) == EXPECTED
    for name in errors.__all__:
        assert getattr(errors, name) is not None
