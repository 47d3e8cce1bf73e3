"""The gateway's error bodies carry fix steps filled with what the config knows: the
provider's real host, port and key variable, the config file, the gateway's URL."""

from __future__ import annotations

import socket

import aiohttp
from gateway_harness import CHAT, gateway_running, sims_running

from provider_fallback import load_config
from provider_fallback.errors import Shell


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_all_failed_body_names_the_refused_port_the_key_and_the_file(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("PROVIDER_FALLBACK_SHELL", "powershell")
    port = _closed_port()
    path = tmp_path / "gateway.yaml"
    path.write_text(f"""
server: {{port: 4311}}
providers:
  - name: litellm
    base_url: http://127.0.0.1:{port}/v1
    api_key: os.environ/LITELLM_MASTER_KEY
models:
  chat: [litellm/groq-70b]
health: {{enabled: false}}
""", encoding="utf-8")
    cfg = load_config(path, environ={"LITELLM_MASTER_KEY": "sk-local-placeholder-key-123"})
    async with gateway_running(cfg) as gw, aiohttp.ClientSession() as http, \
            http.post(gw.url + "/chat/completions", json={"model": "chat", **CHAT}) as resp:
        body = await resp.json()
    err = body["error"]
    assert resp.status == 503 and err["code"] == "all_providers_failed"
    steps = " ".join(err["resolution"])
    assert f"provider-fallback doctor --config {path}" in steps
    assert "http://127.0.0.1:4311/health/providers" in steps
    # the last failure's own steps, for this provider, in the gateway machine's shell
    assert f"Get-NetTCPConnection -LocalPort {port}" in steps
    assert f"--port {port}" in steps and ":4000" not in steps and "{" not in steps
    assert "sk-local-placeholder" not in str(body)


async def test_a_relayed_provider_error_names_its_model_and_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("PROVIDER_FALLBACK_SHELL", Shell.BASH.value)
    async with sims_running({"name": "groq", "models": ["other"]}) as (sim,):
        path = tmp_path / "gw.yaml"
        path.write_text(f"providers: [{{name: groq, base_url: '{sim.url}'}}]\n"
                        "models: {chat: [groq/llama-gone]}\nhealth: {enabled: false}\n",
                        encoding="utf-8")
        async with gateway_running(load_config(path, environ={})) as gw, \
                aiohttp.ClientSession() as http, \
                http.post(gw.url + "/chat/completions", json={"model": "chat", **CHAT}) as resp:
            err = (await resp.json())["error"]
    steps = " ".join(err["resolution"])
    assert err["code"] == "all_providers_failed"
    assert "groq/llama-gone" in steps and str(path) in steps
    assert f"curl -s {sim.url.rstrip('/')}/models" in steps
