"""`provider-fallback demo`: the gateway in front of three misbehaving simulated providers."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..config import Config, config_from_dict
from ._common import console, friendly_errors
from ._serve import bind_socket

if TYPE_CHECKING:   # the simulator (aiohttp's web server) is imported by `demo` only
    from ..sim import SimProvider

__all__ = ["demo"]

ALIAS = "groq-70b"


def _demo_config(groq: SimProvider, litellm: SimProvider, openrouter: SimProvider) -> Config:
    return config_from_dict({
        "providers": [
            {"name": "groq", "base_url": groq.url},
            {"name": "litellm", "base_url": litellm.url},
            {"name": "openrouter", "base_url": openrouter.url},
        ],
        "models": {ALIAS: ["groq/llama-3.3-70b-versatile", "litellm/groq-70b",
                           "openrouter/minimax/minimax-m2.1:free"]},
        "policy": {"timeout": 10, "connect_timeout": 2},
    }, source="<demo>", environ={})


def _skipped(status: dict[str, Any], answered: str) -> str:
    """Why targets other than the one that answered are being skipped (open circuits)."""
    parts = []
    for name, prov in status["providers"].items():
        c = prov["circuit"]
        if c["state"] != "closed":
            parts.append(f"{name} circuit {c['state']} ({c.get('code')}, {c.get('remaining_s', 0):.0f}s)")
            continue
        for key, t in prov["targets"].items():
            c = t["circuit"]
            if c["state"] != "closed" and key != answered:
                parts.append(f"{key} circuit {c['state']} ({c.get('code')}, {c.get('remaining_s', 0):.0f}s)")
    return "; ".join(parts)


async def _burst(base: str, n: int) -> None:
    import aiohttp
    from rich.table import Table

    table = Table(title=f"{n} requests to model '{ALIAS}'", show_lines=False)
    for col in ("#", "status", "answered by", "attempts (provider/model=code)", "why others were skipped", "ms"):
        table.add_column(col, overflow="fold")
    body = {"model": ALIAS, "messages": [{"role": "user", "content": "Say hello"}]}
    async with aiohttp.ClientSession() as session:
        for i in range(1, n + 1):
            t0 = time.perf_counter()
            async with session.post(base + "/v1/chat/completions", json=body) as r:
                await r.read()
                ms = (time.perf_counter() - t0) * 1000
                answered = f"{r.headers.get('x-provider-fallback-provider')}/" \
                           f"{r.headers.get('x-provider-fallback-model')}"
                route = r.headers.get("x-provider-fallback-route", "")
                held = r.headers.get("x-provider-fallback-skipped", "")
                status = r.status
            async with session.get(base + "/health/providers") as r:
                st = await r.json()
            why = "; ".join(p for p in (held, _skipped(st, answered)) if p)
            row = (str(i), str(status), answered, route.replace(",", " -> "), why, f"{ms:.0f}")
            table.add_row(*row)
            console.print(f"[bold]#{i}[/] {status} answered by [green]{answered}[/]  "
                          f"route: {row[3]}" + (f"  [dim](skipped: {row[4]})[/]" if row[4] else ""))
            await asyncio.sleep(0.15)
    console.print(table)


def _snippets(base: str) -> str:
    return f"""
Try it yourself (the gateway keeps running until Ctrl-C):

  curl {base}/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{{"model": "{ALIAS}", "messages": [{{"role": "user", "content": "hi"}}]}}'

  from openai import OpenAI
  client = OpenAI(base_url="{base}/v1", api_key="unused")
  print(client.chat.completions.create(model="{ALIAS}",
        messages=[{{"role": "user", "content": "hi"}}]).choices[0].message.content)

  curl {base}/health/providers      # cooldowns, last error codes, latency
"""


async def _run(port: int, requests: int, wait: bool) -> None:
    from ..server import running_gateway
    from ..sim import SimProvider

    groq = SimProvider("groq", models=["llama-3.3-70b-versatile"], flavor="groq", rpm=3)
    litellm = SimProvider("litellm", models=["groq-70b"], flavor="litellm")
    openrouter = SimProvider("openrouter", models=["minimax/minimax-m2.1:free"],
                             flavor="openrouter", latency=0.12)
    for sim in (groq, litellm, openrouter):
        await sim.start()
    await litellm.close_listener()  # the local proxy is down: connection refused
    console.print("[bold]Simulated providers[/] (no keys, no network):")
    console.print(f"  groq        {groq.url}  3 requests/minute, with Groq's x-ratelimit headers")
    console.print(f"  litellm     {litellm.url}  down (connection refused)")
    console.print(f"  openrouter  {openrouter.url}  healthy but slower (+120 ms)")
    cfg = _demo_config(groq, litellm, openrouter)
    try:
        sock = bind_socket("127.0.0.1", port)
    except typer.Exit:
        console.print(f"[yellow]port {port} is busy; using a free port instead[/]")
        sock = bind_socket("127.0.0.1", 0)
    bound = sock.getsockname()[1]
    base = f"http://127.0.0.1:{bound}"
    try:
        async with running_gateway(cfg, sock=sock):
            console.print(f"[bold]Gateway[/] on {base}/v1, chain {ALIAS}: groq -> litellm -> openrouter\n")
            await _burst(base, requests)
            if wait:
                console.print(_snippets(base), markup=False, highlight=False)
                await asyncio.Event().wait()
    finally:
        for sim in (groq, litellm, openrouter):
            await sim.stop()


def demo(port: Annotated[int, typer.Option(help="Gateway port")] = 4100,
         requests: Annotated[int, typer.Option(help="How many requests in the burst")] = 8,
         wait: Annotated[bool, typer.Option("--wait/--no-wait",
                                            help="Keep the gateway running after the burst")] = True) -> None:
    """Run the gateway in front of simulated providers and watch it fall over (no keys)."""
    with friendly_errors():
        try:
            asyncio.run(_run(port, requests, wait))
        except KeyboardInterrupt:
            console.print("\nstopped")
