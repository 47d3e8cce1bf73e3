"""Keys with stray whitespace or control characters: stripped at load with a warning that
names the variable, never a total outage, and doctor reports instead of crashing."""

from __future__ import annotations

import json
import subprocess
import sys

import aiohttp
import yaml
from gateway_harness import CHAT, gateway_running, make_config, sims_running

from provider_fallback import config_from_dict, load_config
from provider_fallback.doctor import check_keys, startup_findings

BASE = {"providers": [{"name": "p", "base_url": "http://127.0.0.1:9/v1",
                       "api_key": "os.environ/P_KEY"}], "models": {"chat": ["p/m"]}}


def test_surrounding_whitespace_is_stripped_with_a_warning_naming_the_variable(tmp_path):
    cfg = config_from_dict(BASE, environ={"P_KEY": "abc-key-value-1234\r\n"})
    assert cfg.providers["p"].api_key.reveal() == "abc-key-value-1234"
    [warning] = [w for w in cfg.warnings if "P_KEY" in w]
    assert "whitespace" in warning and "carriage return" in warning and "abc-key" not in warning
    # from .env too
    (tmp_path / ".env").write_text("P_KEY=' spaced-key-value-99 '\n")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(BASE))
    cfg = load_config(tmp_path / "c.yaml", environ={})
    assert cfg.providers["p"].api_key.reveal() == "spaced-key-value-99"
    assert any(".env" in w and "P_KEY" in w for w in cfg.warnings)
    [finding] = [f for f in startup_findings(cfg) if f.code == "key_malformed"]
    assert "P_KEY" in " ".join(finding.resolution) and "spaced" not in finding.message


def test_a_key_of_spaces_is_missing_not_a_key():
    from provider_fallback.errors import ConfigError

    try:
        config_from_dict(BASE, environ={"P_KEY": "   "})
    except ConfigError as exc:
        assert "P_KEY is empty" in str(exc)
    else:
        raise AssertionError("a blank key must be refused")


def test_doctor_flags_a_key_with_a_newline_inside():
    cfg = config_from_dict(BASE, environ={"P_KEY": "abc-key\nvalue-1234"})
    findings = [f for f in check_keys(cfg) if f.code == "key_malformed"]
    assert findings and "newline" in findings[0].message and "value-1234" not in findings[0].message


async def test_an_unsendable_key_falls_over_instead_of_a_total_outage():
    # before: every request answered 500 gateway_error, the healthy provider never tried
    async with sims_running({"name": "bad", "models": ["m"]}, {"name": "good", "models": ["m"]}) as (b, g):
        cfg = make_config({"bad": b, "good": g}, {"chat": ["bad/m", "good/m"]},
                          providers={"bad": {"api_key": "os.environ/BAD"}},
                          environ={"BAD": "gsk_inner\nnewline-value-123"})
        async with gateway_running(cfg) as gw, aiohttp.ClientSession() as http:
            for _ in range(2):
                async with http.post(gw.url + "/chat/completions",
                                     json={"model": "chat", **CHAT}) as r:
                    assert r.status == 200
                    assert r.headers["x-provider-fallback-provider"] == "good"
            route = r.headers["x-provider-fallback-route"]
            assert route.startswith("good/m=ok") or "bad/m=invalid_api_key_format" in route
            status = gw.router.status()["providers"]["bad"]
            assert status["circuit"]["code"] == "invalid_api_key_format"
        assert b.count() == 0   # never sent


async def test_doctor_never_crashes_on_an_unsendable_key(tmp_path):
    async with sims_running({"name": "p", "models": ["m"]}) as (p,):
        config = tmp_path / "provider_config.yaml"
        config.write_text(yaml.safe_dump({**BASE, "providers": [{**BASE["providers"][0],
                                                                  "base_url": p.url}]}))
        for value in ("abc-key-value\r\n", "abc-key\nvalue-1234", "abc\x01key-value"):
            proc = subprocess.run([sys.executable, "-m", "provider_fallback", "doctor", "-c",
                                   str(config), "--json"], capture_output=True, text=True,
                                  timeout=60, env={"P_KEY": value, "PATH": "/usr/bin:/bin"})
            assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
            report = json.loads(proc.stdout)
            codes = {f["code"] for f in report["findings"]}
            assert "key_malformed" in codes, codes
