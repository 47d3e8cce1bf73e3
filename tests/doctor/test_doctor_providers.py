"""Doctor against simulated providers on loopback, one failure at a time."""

from __future__ import annotations

import json
import socket
import time

import pytest
from doctor_support import by, closed_port, write_config

from provider_fallback.doctor import Severity, run_doctor
from provider_fallback.sim import SimProvider

KEY = "gsk_doctortest_SECRETPART_0123456789"


@pytest.fixture
async def sim():
    p = SimProvider("groq", models=["llama-3.3-70b-versatile", "llama-3.1-8b-instant"],
                    api_key=KEY)
    await p.start()
    yield p
    await p.stop()


def _cfg(tmp_path, sim, *, model="llama-3.3-70b-versatile", **extra):
    return write_config(tmp_path / "provider_config.yaml",
                        [{"name": "groq", "base_url": sim.url, "api_key": "os.environ/GROQ_API_KEY"}],
                        {"groq-70b": [f"groq/{model}"]}, **extra)


async def test_all_good_exits_zero(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    report = await run_doctor(_cfg(tmp_path, sim))
    assert report.exit_code == 0, [f.message for f in report.findings]
    messages = " ".join(f.message for f in by(report, check="provider", subject="groq"))
    assert "DNS" in messages and "TCP" in messages and "2 models listed" in messages
    assert by(report, check="clock", severity="ok")
    assert by(report, check="port", severity="ok")


async def test_wrong_key_names_the_variable_and_masks_it(tmp_path, sim, monkeypatch):
    wrong = "gsk_wrongkey_TOPSECRET_987654321"
    monkeypatch.setenv("GROQ_API_KEY", wrong)
    report = await run_doctor(_cfg(tmp_path, sim))
    [f] = by(report, code="invalid_api_key")
    assert f.severity is Severity.ERROR and report.exit_code == 2
    assert "GROQ_API_KEY" in f.message and f"{len(wrong)} chars" in f.message
    assert "'gsk_'" in f.message
    dumped = json.dumps(report.as_dict())
    assert "TOPSECRET" not in dumped and wrong[:6] not in dumped


async def test_missing_model_offers_nearest_names(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    report = await run_doctor(_cfg(tmp_path, sim, model="llama-3.3-70b-versatil"))
    [f] = by(report, code="model_not_found")
    assert f.detail["nearest"][0] == "llama-3.3-70b-versatile"
    assert "llama-3.3-70b-versatile" in f.resolution[0]
    assert report.exit_code == 2


async def test_closed_port(tmp_path):
    port = closed_port()
    cfg = write_config(tmp_path / "c.yaml", [{"name": "local", "base_url": f"http://127.0.0.1:{port}/v1"}],
                       {"m": ["local/x"]})
    report = await run_doctor(cfg)
    [f] = by(report, check="provider", severity="error")
    assert f.code == "connection_refused" and str(port) in f.message
    assert f.resolution  # what to do, from the registry


async def test_dns_failure_on_invalid_host(tmp_path):
    cfg = write_config(tmp_path / "c.yaml",
                       [{"name": "nowhere", "base_url": "https://api.doctor-test.invalid/v1"}],
                       {"m": ["nowhere/x"]})
    report = await run_doctor(cfg, timeout=5)
    [f] = by(report, check="provider", severity="error")
    assert f.code in ("dns_failure", "dns_temporary")
    assert "api.doctor-test.invalid" in f.message


async def test_port_in_use_names_the_holder_where_possible(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        report = await run_doctor(_cfg(tmp_path, sim, server={"port": port}))
    [f] = by(report, check="port")
    assert f.code == "address_in_use" and f.severity is Severity.ERROR
    assert f"127.0.0.1:{port}" in f.message
    holder = f.detail["holder"]
    assert holder is None or "pid" in holder      # best effort: Linux /proc, else unknown
    assert ("unknown process" in f.message) == (holder is None)


async def test_proxy_env_without_no_proxy(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    report = await run_doctor(_cfg(tmp_path, sim))
    [f] = by(report, check="proxy")
    assert f.code == "proxy_env_local" and f.severity is Severity.ERROR
    assert f.detail["providers"] == ["groq"]
    assert any("NO_PROXY" in step for step in f.resolution)


async def test_proxy_env_with_no_proxy_is_fine(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1,::1")
    report = await run_doctor(_cfg(tmp_path, sim))
    [f] = by(report, check="proxy")
    assert f.severity is Severity.OK
    assert report.exit_code == 0


async def test_slow_provider_warns(tmp_path, monkeypatch):
    async with SimProvider("slowp", models=["m"], models_latency=0.3) as slow:
        cfg = write_config(tmp_path / "c.yaml", [{"name": "slowp", "base_url": slow.url}],
                           {"m": ["slowp/m"]})
        report = await run_doctor(cfg, slow_threshold=0.05)
    [f] = by(report, code="slow_provider")
    assert f.severity is Severity.WARNING and report.exit_code == 1


async def test_provider_that_never_answers_times_out(tmp_path):
    async with SimProvider("hangs", models=["m"], models_latency=60) as slow:
        cfg = write_config(tmp_path / "c.yaml", [{"name": "hangs", "base_url": slow.url}],
                           {"m": ["hangs/m"]})
        report = await run_doctor(cfg, timeout=0.2)
    [f] = by(report, check="provider", severity="error")
    assert f.code == "timeout_total"


async def test_clock_skew_from_date_header(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    report = await run_doctor(_cfg(tmp_path, sim), now=lambda: time.time() + 600)
    [f] = by(report, check="clock")
    assert f.code == "clock_skew" and f.severity is Severity.WARNING
    assert "ahead" in f.message and abs(f.detail["skew_s"] + 600) < 60


async def test_local_litellm_health_endpoints(tmp_path, monkeypatch):
    async with SimProvider("litellm", models=["groq-70b"], api_key="sk-litellm-master-0000000000") as lite:
        monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-litellm-master-0000000000")
        cfg = write_config(tmp_path / "c.yaml",
                           [{"name": "litellm", "base_url": lite.url,
                             "api_key": "os.environ/LITELLM_MASTER_KEY"}],
                           {"groq-70b": ["litellm/groq-70b"]})
        report = await run_doctor(cfg)
        paths = [r.path for r in lite.log]
    oks = [f.message for f in by(report, check="provider", severity="ok")]
    assert any("/health/liveliness" in m for m in oks) and any("LiteLLM /health " in m for m in oks)
    assert report.exit_code == 0
    assert paths == []  # health endpoints are not logged as model calls: no tokens spent


async def test_missing_env_var_still_checks_reachability(tmp_path, sim, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    report = await run_doctor(_cfg(tmp_path, sim))
    [f] = by(report, check="env")
    assert f.code == "env_var_missing" and f.subject == "GROQ_API_KEY"
    assert any("not set" in x.message for x in by(report, check="provider", severity="info"))
    assert by(report, check="provider", subject="groq", severity="ok")   # DNS + TCP
    assert report.exit_code == 2


async def test_optional_provider_without_key_is_a_warning(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    cfg = write_config(tmp_path / "c.yaml", [
        {"name": "groq", "base_url": sim.url, "api_key": "os.environ/GROQ_API_KEY"},
        {"name": "openrouter", "base_url": "https://openrouter.doctor-test.invalid/api/v1",
         "api_key": "os.environ/OPENROUTER_API_KEY", "optional": True}],
        {"m": ["groq/llama-3.1-8b-instant", "openrouter/x"]})
    report = await run_doctor(cfg)
    [f] = by(report, check="env")
    assert f.severity is Severity.WARNING and "skipped" in f.message
    assert not by(report, check="provider", subject="openrouter")   # serve skips it too
    assert report.exit_code == 1


async def test_invalid_config_is_reported_per_problem(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("providers:\n  - name: a\n    base_ur: http://x\nmodels:\n  m: [a/b]\n")
    report = await run_doctor(cfg)
    errors = by(report, check="config", severity="error")
    assert errors and all(f.code == "config_error" for f in errors)
    assert any("base_url" in f.message for f in errors)
    assert report.exit_code == 2
