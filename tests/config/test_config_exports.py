"""The public surface of provider_fallback.config."""

from __future__ import annotations

import provider_fallback.config as config


def test_exports():
    assert config.__all__ == sorted(config.__all__)
    assert set(config.__all__) == {
        "AlertSettings", "AlertSink", "LoggingSettings", "MetricsSettings", "TelemetrySettings",
        "BudgetSettings", "Chain", "CircuitSettings", "Config", "ContinuationSettings",
        "HealthSettings", "Policy",
        "Pricing", "ProviderSpec", "QueueSettings", "RateLimits", "ServerSettings",
        "StateSettings", "SupervisorSpec", "Target", "check_bind",
        "config_from_dict", "describe", "load_config", "parse_duration_value", "parse_size",
    }
    for name in config.__all__:
        assert getattr(config, name) is not None


def test_runtime_model_has_no_pydantic():
    import provider_fallback.config._model as model

    assert "pydantic" not in vars(model)
    assert not any("pydantic" in type(v).__module__ for v in vars(model).values()
                   if isinstance(v, type))
