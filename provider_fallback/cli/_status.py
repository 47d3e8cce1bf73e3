"""`provider-fallback status`: one screen about a running gateway (providers, circuits, limits,
budget, the last 24 hours' fall-overs and mean recovery time)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ._common import console, escape
from ._gateway import call, resolve_gateway
from ._providers import ConfigOpt, KeyEnvOpt, UrlOpt, _show

__all__ = ["status"]


def status(url: UrlOpt = None, config: ConfigOpt = None,
           key_env: KeyEnvOpt = "PROVIDER_FALLBACK_MASTER_KEY",
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Gateway status: providers, circuits, rate limits, budget, last 24 h fall-overs."""
    snap = call(resolve_gateway(url, config, key_env), "GET", "/admin/status")
    if as_json:
        snap.pop("history", None)
        print(json.dumps(snap, indent=2))
        return
    _show(snap)
    _show_summary(snap)


def state_line(st: dict[str, Any]) -> str:
    """Where routing state lives, in one line."""
    if st.get("backend") != "redis":
        return "state: memory (this process only)"
    link = "connected" if st.get("connected") else "DISCONNECTED: serving on local state"
    return (f"state: redis {st.get('url', '')} prefix {st.get('prefix', '')} ({link}, "
            f"{st.get('replicas', 1)} replica(s) reporting, {st.get('degradations', 0)} outage(s))")


def _show_summary(snap: dict[str, Any]) -> None:
    from rich.table import Table

    d = snap.get("last_24h") or {}
    g = snap.get("gateway") or {}
    table = Table(title="last 24 hours")
    for col in ("fall-overs", "recoveries", "mean recovery", "requests", "answered after fall-over",
                "in flight", "uptime"):
        table.add_column(col)
    mean = d.get("mean_recovery_s")
    table.add_row(str(d.get("fallbacks", 0)), str(d.get("recoveries", 0)),
                  "-" if mean is None else f"{mean:.1f}s", str(d.get("requests", "-")),
                  str(d.get("served_after_fallback", "-")), str(g.get("inflight", 0)),
                  f"{g.get('uptime_s', 0):.0f}s")
    console.print(table)
    console.print(state_line(snap.get("state") or {}), markup=False)
    recent = [e for e in snap.get("events", []) if e.get("type") != "CIRCUIT_HALF_OPEN"][-5:]
    for e in recent:
        detail = " ".join(f"{k}={v}" for k, v in e.items()
                          if k not in ("id", "ts", "type", "attempts"))
        console.print(f"[dim]event[/] {escape(str(e['type']))} {escape(detail)}", soft_wrap=True)
