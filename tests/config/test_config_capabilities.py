"""Target capabilities: context window, how a cut stream is continued, stream usage."""

from __future__ import annotations

import pytest

from provider_fallback.config import config_from_dict
from provider_fallback.errors import ConfigError


def _cfg(provider_models=None, target=None):
    return config_from_dict({
        "providers": [{"name": "p", "base_url": "http://h/v1", "models": provider_models or {}}],
        "models": {"m": [target or "p/x", "p/y"]},
    }, environ={})


def test_defaults_when_nothing_is_known():
    x, y = _cfg().chains["m"].targets
    for t in (x, y):
        assert (t.context, t.continuation, t.stream_usage) == (None, "prefill", True)


def test_provider_models_entry_sets_capabilities():
    x, y = _cfg({"x": {"context": 8192, "continuation": "restart",
                       "stream_usage": False}}).chains["m"].targets
    assert (x.context, x.continuation, x.stream_usage) == (8192, "restart", False)
    assert (y.continuation, y.stream_usage) == ("prefill", True)


def test_target_mapping_wins_over_provider_entry():
    x, _ = _cfg({"x": {"context": 8192, "continuation": "restart", "stream_usage": False}},
                {"provider": "p", "model": "x", "context": 4096, "continuation": "off",
                 "stream_usage": True}).chains["m"].targets
    assert (x.context, x.continuation, x.stream_usage) == (4096, "off", True)


def test_pass_through_target_reads_provider_entry():
    cfg = _cfg({"z": {"context": 1000, "continuation": "restart", "stream_usage": False}})
    (t,) = cfg.resolve("p/z").targets
    assert (t.context, t.continuation, t.stream_usage) == (1000, "restart", False)


@pytest.mark.parametrize("where", ["provider", "target"])
def test_unknown_continuation_is_a_config_error(where):
    with pytest.raises(ConfigError) as err:
        if where == "provider":
            _cfg({"x": {"continuation": "resume"}})
        else:
            _cfg(target={"provider": "p", "model": "x", "continuation": "resume"})
    text = str(err.value)
    assert "continuation" in text and "prefill" in text
