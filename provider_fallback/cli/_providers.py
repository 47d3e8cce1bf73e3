"""`provider-fallback providers ...`: states and manual control of a running gateway."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ._common import console, fail

__all__ = ["providers_app"]

providers_app = typer.Typer(help="Show provider health and control routing on a running gateway.",
                            invoke_without_command=True, no_args_is_help=False)

UrlOpt = Annotated[str | None, typer.Option("--url", help="Gateway base URL (default: from "
                                            "--config, $PROVIDER_FALLBACK_URL, or http://127.0.0.1:4100)")]
KeyEnvOpt = Annotated[str, typer.Option("--key-env", help="Env var holding the master key")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (for host/port)")]


def _base(url: str | None, config: Path | None) -> str:
    if url:
        return url.rstrip("/")
    if os.environ.get("PROVIDER_FALLBACK_URL"):
        return os.environ["PROVIDER_FALLBACK_URL"].rstrip("/")
    if config is not None:
        from ..config import load_config

        cfg = load_config(config)
        host = "127.0.0.1" if cfg.server.host in ("0.0.0.0", "::") else cfg.server.host
        return f"http://{host}:{cfg.server.port}"
    return "http://127.0.0.1:4100"


def call(base: str, method: str, path: str, key_env: str, body: dict[str, Any] | None = None) -> Any:
    """One admin API call; every failure becomes a clean CLI error."""
    data = json.dumps(body or {}).encode() if method == "POST" else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    key = os.environ.get(key_env)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 - user-given gateway URL
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            err = json.loads(exc.read()).get("error", {})
        except ValueError:
            err = {}
        fix = f"export {key_env}=<master key>" if exc.code == 401 else None
        raise fail(err.get("message", f"HTTP {exc.code}"), code=err.get("code", "gateway_error"),
                   fix=fix) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise fail(f"cannot reach the gateway at {base}: {reason}", code="connection_refused",
                   fix="start it with `provider-fallback serve`, or pass --url") from None


def _show(status: dict[str, Any]) -> None:
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
        table.add_row(name + flags, f"[{colors.get(p['status'], 'white')}]{p['status']}[/]", circuit,
                      str(p.get("reliability")), p.get("why", ""), probes)
    console.print(table)
    t2 = Table(title="targets")
    for col in ("target", "status", "circuit", "ok", "failed", "last code", "p50 ms", "p95 ms"):
        t2.add_column(col, overflow="fold")
    for p in status["providers"].values():
        for key, t in p["targets"].items():
            c = t["circuit"]
            t2.add_row(key, t["status"], c["state"] + (f" ({c.get('code')})" if c["state"] != "closed" else ""),
                       str(t["successes"]), str(t["failures"]), str(t["last_code"] or ""),
                       _ms(t["latency_ms_p50"]), _ms(t["latency_ms_p95"]))
    console.print(t2)
    _show_limits(status)


def _show_limits(status: dict[str, Any]) -> None:
    """Rate-limit headroom per target: remaining/limit per window and when it resets."""
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
            t3.add_row(key, *cells, _duration(blocked) if blocked > 0 else "")
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
    ctx.obj = {"base": _base(url, config), "key_env": key_env}
    if ctx.invoked_subcommand is None:
        status = call(ctx.obj["base"], "GET", "/admin/providers", key_env)
        if as_json:
            print(json.dumps(status, indent=2))
        else:
            _show(status)


def _action(ctx: typer.Context, name: str, action: str, body: dict[str, Any] | None = None) -> None:
    res = call(ctx.obj["base"], "POST", f"/admin/providers/{name}/{action}", ctx.obj["key_env"], body)
    st = res.get("status", {})
    console.print(f"{name}: {action} ok; now {st.get('status', '')} {st.get('why', '')}".rstrip())


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
    call(ctx.obj["base"], "POST", "/admin/providers/unforce", ctx.obj["key_env"])
    console.print("unforced: normal routing")


@providers_app.command()
def probe(ctx: typer.Context, name: str,
          tier: Annotated[str, typer.Option(help="quick, full or validate")] = "quick") -> None:
    """Run one health probe of a provider now and show the result."""
    res = call(ctx.obj["base"], "POST", f"/admin/providers/{name}/probe", ctx.obj["key_env"],
               {"tier": tier})
    r = res.get("probe", {})
    if r.get("skipped"):
        console.print(f"{name}: {tier} probe skipped: {r['skipped']}")
    elif r.get("ok"):
        console.print(f"{name}: {tier} probe ok in {r.get('ms') or 0:.1f} ms")
    else:
        console.print(f"{name}: {tier} probe failed: {r.get('code')} {r.get('detail', '')}".rstrip())
