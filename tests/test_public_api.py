"""The package root re-exports one sorted, typed public surface."""

import provider_fallback


def test_exports_are_sorted_and_importable():
    names = provider_fallback.__all__
    assert list(names) == sorted(names)
    for name in names:
        assert getattr(provider_fallback, name) is not None


def test_core_names_exported():
    for name in ("Router", "SyncRouter", "load_config", "config_from_dict", "ProviderFallbackError",
                 "AllProvidersFailedError", "UpstreamError", "ConfigError", "Completion"):
        assert name in provider_fallback.__all__


def test_one_exception_root():
    from provider_fallback import errors

    for name in ("ConfigError", "InvalidRequestError", "UpstreamError", "StreamInterruptedError",
                 "AllProvidersFailedError"):
        assert issubclass(getattr(errors, name), errors.ProviderFallbackError)
