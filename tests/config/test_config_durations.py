"""Human durations and sizes."""

from __future__ import annotations

import pytest

from provider_fallback.config import config_from_dict, parse_duration_value, parse_size
from provider_fallback.errors import ConfigError


@pytest.mark.parametrize(("value", "seconds"), [
    (30, 30.0), (0.5, 0.5), ("30", 30.0), ("250ms", 0.25), ("30s", 30.0), ("5m", 300.0),
    ("1h", 3600.0), ("1h30m", 5400.0), ("1m30s", 90.0), (" 2s ", 2.0), ("1.5s", 1.5), (0, 0.0),
])
def test_durations(value, seconds):
    assert parse_duration_value(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "soon", "30 sec", "-5", -1, True, None, [1], "1x", "h"])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration_value(value)


@pytest.mark.parametrize(("value", "size"), [
    (1024, 1024), ("20MiB", 20 * 1024**2), ("512KB", 512_000), ("1MB", 1_000_000),
    ("1GiB", 1024**3), ("64KiB", 65536), ("100", 100), ("1.5MiB", int(1.5 * 1024**2)),
    ("20mib", 20 * 1024**2),
])
def test_sizes(value, size):
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["big", "20 parsecs", -1, True, None, "MiB"])
def test_bad_sizes(value):
    with pytest.raises(ValueError):
        parse_size(value)


def test_durations_and_sizes_in_config():
    cfg = config_from_dict({"server": {"max_body_size": "512KB"},
                            "policy": {"timeout": "1h30m", "backoff_base": "250ms",
                                       "cooldowns": {"rate_limit": "2m"}},
                            "providers": [{"name": "p", "base_url": "http://h"}],
                            "models": {"m": ["p/x"]}}, environ={})
    assert cfg.server.max_body_size == 512_000
    assert cfg.policy.timeout == 5400 and cfg.policy.backoff_base == 0.25
    assert cfg.policy.cooldowns["rate_limit"] == 120


def test_bad_duration_in_config_names_key_path():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"providers": [{"name": "p", "base_url": "http://h"},
                                        {"name": "q", "base_url": "http://h", "timeout": "soon"}],
                          "models": {"m": ["p/x"]}}, environ={})
    assert "providers[1].timeout" in str(info.value)
    assert "'30s'" in str(info.value)


def test_zero_timeout_refused():
    with pytest.raises(ConfigError, match=r"policy\.timeout"):
        config_from_dict({"policy": {"timeout": 0},
                          "providers": [{"name": "p", "base_url": "http://h"}],
                          "models": {"m": ["p/x"]}}, environ={})
