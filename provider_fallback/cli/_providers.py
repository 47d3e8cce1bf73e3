"""`provider-fallback providers ...`: states and manual control of a running gateway."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import console, escape
from ._gateway import call, resolve_gateway

__all__ = ["providers_app"]

providers_app = typer.Typer(help="Show provider health and control routing on a running gateway.",
                            invoke_without_command=True, no_args_is_help=False)

UrlOpt = Annotated[str | None, typer.Option("--url", help="Gateway base URL (default: "
                                            "$PROVIDER_FALLBACK_URL, the config's server.host/port, "
                                            "or http://127.0.0.1:4100)")]
KeyEnvOpt = Annotated[str, typer.Option("--key-env", help="Env var holding the master key "
                                        "(default: the config's server.master_key)")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file: host/port and "
                                                "master key, with the .env beside it (default: "
                                                "./provider_config.yaml if it exists)")]


def _show(status: dict[str, Any]) -> None:
    from rich.table import Table

    colors = {"HEALTHY": "green", "DEGRADED": "yellow", "UNHEALTHY": "red", "UNKNOWN": "dim"}
    table = Table(title="providers")
    for col in ("provider", "status", "circuit", "reliability", "why", "probes"):
        table.add_column(col, overflow="fold")
    for name, p in status["providers"].items():
        c = p["circuit"]
        circuit = c["state"] + (f" ({c.get('code')}, {c.get('remaining_s')}s)" if c["state"] != "closed" else "")
        flags = (" [forced]" if p.get("forced") else "") + (" [disabled]" if p.get("disabled") else "")
        probes = ", ".join(f"{tier}={'ok' if r.get('ok') else r.get('code') or r.get('skipped')}"
                           for tier, r in (p.get("probes") or {}).items())
        # data, not markup: "[forced]" or a "[secret]" in a reason must print as written
        table.add_row(escape(name + flags),
                      f"[{colors.get(p['status'], 'white')}]{escape(str(p['status']))}[/]",
                      escape(circuit), str(p.get("reliability")), escape(str(p.get("why", ""))),
                      escape(probes))
    console.print(table)
    t2 = Table(title="targets")
    for col in ("target", "status", "circuit", "ok", "failed", "last code", "p50 ms", "p95 ms"):
        t2.add_column(col, overflow="fold")
    for p in status["providers"].values():
        for key, t in p["targets"].items():
            c = t["circuit"]
            t2.add_row(escape(key), escape(str(t["status"])),
                       escape(c["state"] + (f" ({c.get('code')})" if c["state"] != "closed" else "")),
                       str(t["successes"]), str(t["failures"]), escape(str(t["last_code"] or "")),
                       _ms(t["latency_ms_p50"]), _ms(t["latency_ms_p95"]))
    console.print(t2)
    _show_limits(status)


def _show_limits(status: dict[str, Any]) -> None:
    """Rate-limit headroom per target: remaining/limit per window and when it resets."""
    from rich.table import Table

    t3 = Table(title="rate limits (remaining/limit, reset in)")
    for col in ("target", "rpm", "rpd", "tpm", "tpd", "blocked"):
        t3.add_column(col, overflow="fold")
    for p in status["providers"].values():
        for key, t in p["targets"].items():
            lim = t.get("limits")
            if not lim:
                continue
            cells = []
            for w in ("rpm", "rpd", "tpm", "tpd"):
                v = lim[w]
                if v["limit"] is None and v["remaining"] is None:
                    cells.append("-")
                    continue
                src = "*" if v["source"] == "learned" else ""
                cells.append(f"{v['remaining']}/{v['limit'] if v['limit'] is not None else '?'}{src}"
                             f" ({_duration(v['reset_in_s'])})")
            blocked = lim.get("blocked_s") or 0
            t3.add_row(escape(key), *cells, _duration(blocked) if blocked > 0 else "")
    queue = status.get("queue") or {}
    caption = "* learned from response headers"
    if queue:
        caption += f"; wait queue: {queue.get('depth', 0)}/{queue.get('size')}"
    t3.caption = caption
    console.print(t3)
    budget = status.get("budget")
    if budget:
        limit = budget.get("monthly_limit_usd")
        console.print(f"budget: {budget['status']}  month ${budget['spend_month_usd']:.4f}"
                      + (f" of ${limit:g}" if limit else "")
                      + ("  [bold red]kill switch on: only free targets[/]"
                         if budget.get("kill_switch") else ""))


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.1f}m"
    return f"{seconds:.0f}s"


def _ms(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


@providers_app.callback()
def providers(ctx: typer.Context, url: UrlOpt = None, config: ConfigOpt = None,
              key_env: KeyEnvOpt = "PROVIDER_FALLBACK_MASTER_KEY",
              as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Table of provider and target states (health, circuits, probes, latency)."""
    ctx.obj = {"gateway": resolve_gateway(url, config, key_env)}
    if ctx.invoked_subcommand is None:
        status = call(ctx.obj["gateway"], "GET", "/admin/providers")
        if as_json:
            print(json.dumps(status, indent=2))
        else:
            _show(status)


def _action(ctx: typer.Context, name: str, action: str, body: dict[str, Any] | None = None) -> None:
    res = call(ctx.obj["gateway"], "POST", f"/admin/providers/{name}/{action}", body)
    st = res.get("status", {})
    console.print(f"{name}: {action} ok; now {st.get('status', '')} {st.get('why', '')}".rstrip(),
                  markup=False)


@providers_app.command()
def disable(ctx: typer.Context, name: str,
            for_: Annotated[str | None, typer.Option("--for", help="e.g. 10m; default: until enabled")] = None) -> None:
    """Take a provider out of every chain (for a while, or until `enable`)."""
    _action(ctx, name, "disable", {"for": for_})


@providers_app.command()
def enable(ctx: typer.Context, name: str) -> None:
    """Undo `disable`."""
    _action(ctx, name, "enable")


@providers_app.command()
def restore(ctx: typer.Context, name: str) -> None:
    """Close the provider's circuits and clear its cooldowns now."""
    _action(ctx, name, "restore")


@providers_app.command()
def force(ctx: typer.Context, name: str) -> None:
    """Pin all traffic to one provider (in chains that have it) until `unforce`."""
    _action(ctx, name, "force")


@providers_app.command()
def unforce(ctx: typer.Context) -> None:
    """Undo `force`."""
    call(ctx.obj["gateway"], "POST", "/admin/providers/unforce")
    console.print("unforced: normal routing")


@providers_app.command()
def probe(ctx: typer.Context, name: str,
          tier: Annotated[str, typer.Option(help="quick, full or validate")] = "quick") -> None:
    """Run one health probe of a provider now and show the result."""
    res = call(ctx.obj["gateway"], "POST", f"/admin/providers/{name}/probe", {"tier": tier})
    r = res.get("probe", {})
    if r.get("skipped"):
        console.print(f"{name}: {tier} probe skipped: {r['skipped']}", markup=False)
    elif r.get("ok"):
        console.print(f"{name}: {tier} probe ok in {r.get('ms') or 0:.1f} ms")
    else:
        console.print(f"{name}: {tier} probe failed: {r.get('code')} {r.get('detail', '')}".rstrip(),
                      markup=False)
