"""Config files for reload tests: write one, edit it, ask a gateway to reload it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import yaml

FAST = {"timeout": 5, "connect_timeout": 2, "ttft_timeout": 3, "stall_timeout": 2,
        "request_deadline": 20}


def write(path: Path, providers: dict[str, str], chains: dict[str, list[Any]],
          **sections: Any) -> Path:
    """providers: name -> base_url (or a full provider mapping)."""
    entries = [url if isinstance(url, dict) else {"name": name, "base_url": url}
               for name, url in providers.items()]
    data: dict[str, Any] = {"policy": FAST, "health": {"enabled": False},
                            "telemetry": {"enabled": False}, **sections,
                            "providers": entries, "models": chains}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


async def post_reload(base_url: str, key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession() as http, \
            http.post(f"{base_url}/admin/reload", headers=headers) as resp:
        return resp.status, await resp.json()


def reload_events(log_dir: Path) -> list[dict[str, Any]]:
    """CONFIG_RELOADED events every worker wrote to the shared JSONL log."""
    import json

    path = log_dir / "fallback_events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("type") == "CONFIG_RELOADED":
            out.append(event)
    return out


async def run_workers_reload(tmp_path: Path, p: Any, q: Any, state: dict[str, Any]) -> None:
    """`serve --workers 2` on a file routing to `p`; the file is edited to route to `q`,
    one POST /admin/reload reaches one worker; both must serve the new config."""
    import socket
    import subprocess
    import sys

    from gateway_harness import eventually, stop_process, wait_serving

    logs = tmp_path / "logs"
    sections = {"telemetry": {"enabled": True, "log_dir": str(logs), "request_log": False},
                "budget": {"data_dir": str(tmp_path)}, "state": state}
    cfg = write(tmp_path / "cfg.yaml", {"p": p.url}, {"chat": ["p/m"]}, **sections)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    err = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "provider_fallback", "serve", "-c", str(cfg),
                             "--port", str(port), "--workers", "2", "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=err)
    try:
        await wait_serving(base, proc)
        write(cfg, {"p": p.url, "q": q.url}, {"chat": ["q/m"]}, **sections)
        status, answer = await post_reload(base)
        assert status == 200 and answer["ok"], answer
        # both workers reloaded: one on the request, the other from the token it wrote
        await eventually(lambda: len({e["pid"] for e in reload_events(logs)}) == 2, timeout=30)
        origins = sorted(e["origin"] for e in reload_events(logs))
        assert origins == ["admin", "worker"]

        async def served_by() -> str:
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as http, http.post(
                    f"{base}/v1/chat/completions",
                    json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]}) as r:
                assert r.status == 200
                return r.headers["x-provider-fallback-provider"]

        answered = [await served_by() for _ in range(20)]
        assert set(answered) == {"q"}, answered
    finally:
        stop_process(proc)
        err.close()
