"""The Markdown outage report (`provider-fallback report --since 24h`): affected providers,
timeline, active provider, impact and recovery time, from stored events and request rows."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

__all__ = ["outage_report"]

TIMELINE_TYPES = frozenset({
    "FALLBACK", "CIRCUIT_OPENED", "CIRCUIT_CLOSED", "RESTORED", "ALL_DOWN", "RECOVERED",
    "DEGRADED", "PROVIDER_DISABLED", "PROVIDER_ENABLED", "PROVIDER_FORCED", "PROVIDER_UNFORCED",
    "UPSTREAM_RESTARTED", "UPSTREAM_RESTART_FAILED", "BUDGET_WARNING", "BUDGET_CRITICAL",
    "BUDGET_EXCEEDED", "KILL_SWITCH", "CONFIG_RELOADED"})
TIMELINE_MAX = 200


def _t(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s"
    return f"{s // 3600}h {s % 3600 // 60}m {s % 60}s" if s >= 3600 else f"{s // 60}m {s % 60}s"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _detail(e: dict[str, Any]) -> str:
    t = e["type"]
    if t == "FALLBACK":
        return f"{e.get('alias')}: {e.get('from_target')} → {e.get('to_target') or '(none left)'} ({e.get('reason')})"
    if t == "CIRCUIT_OPENED":
        return f"{e.get('key')} opened for {e.get('open_s')} s ({e.get('code')})"
    if t == "CIRCUIT_CLOSED":
        return f"{e.get('key')} closed after {_dur(e.get('downtime_s'))}"
    if t == "RESTORED":
        return f"{e.get('provider')} restored after {_dur(e.get('downtime_s'))}"
    if t == "ALL_DOWN":
        codes = sorted({a.get("code") for a in e.get("attempts", []) if isinstance(a, dict)} - {None})
        return f"every target of {e.get('alias')} failed ({', '.join(codes)})"
    if t == "RECOVERED":
        return f"{e.get('alias')} answered by {e.get('by')} after {_dur(e.get('downtime_s'))}"
    skip = {"id", "ts", "type", "row"}
    return ", ".join(f"{k}={v}" for k, v in e.items() if k not in skip)[:200]


def outage_report(events: list[dict[str, Any]], requests: list[dict[str, Any]], *,
                  since: float, until: float, source: str = "") -> str:
    """Markdown for the window [since, until]. `events`/`requests` come from TelemetryStore."""
    import statistics  # here: the gateway imports this module, `report` runs it

    lines = [f"# Outage report: {_t(since)} to {_t(until)} UTC", ""]
    if source:
        lines += [f"Source: `{source}`. Generated {_t(until)} UTC by `provider-fallback report`.", ""]

    affected: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "openings": 0, "fallbacks_from": 0, "reasons": Counter(), "first": None, "last": None,
        "recoveries": []})

    def touch(p: str, ts: float) -> dict[str, Any]:
        a = affected[p]
        a["first"] = ts if a["first"] is None else min(a["first"], ts)
        a["last"] = ts if a["last"] is None else max(a["last"], ts)
        return a

    recoveries: list[float] = []
    for e in events:
        t, ts = e["type"], e["ts"]
        if t == "FALLBACK" and e.get("from_provider"):
            a = touch(e["from_provider"], ts)
            a["fallbacks_from"] += 1
            a["reasons"][e.get("reason")] += 1
        elif t == "CIRCUIT_OPENED" and e.get("key"):
            a = touch(str(e["key"]).split("/", 1)[0], ts)
            a["openings"] += 1
            a["reasons"][e.get("code")] += 1
        elif t == "RESTORED" and isinstance(e.get("downtime_s"), int | float):
            affected[e["provider"]]["recoveries"].append(e["downtime_s"])
            recoveries.append(e["downtime_s"])

    ok = [r for r in requests if r["outcome"] == "ok"]
    failed = [r for r in requests if r["outcome"] not in ("ok", "client_disconnected")]
    via_fallback = [r for r in ok if _after_fallover(r)]
    served_by = Counter(_target(r) for r in ok if r.get("provider"))
    active = _target(ok[-1]) if ok else None
    fallbacks = sum(1 for e in events if e["type"] == "FALLBACK")
    all_down = [e for e in events if e["type"] == "ALL_DOWN"]

    lines += ["## Summary", ""]
    if not affected and not all_down:
        lines += ["No provider failures in this window.", ""]
    lines += [f"- **Affected providers:** {', '.join(sorted(affected)) or 'none'}",
              f"- **Active provider** (answered the latest request): {active or 'none'}",
              f"- **Impact:** {len(requests)} requests; {len(ok)} answered "
              f"({len(via_fallback)} after a fall-over); {len(failed)} failed; "
              f"{fallbacks} fall-overs; {len(all_down)} times every target of a model was down",
              "- **Recovery time:** " + (f"mean {_dur(statistics.mean(recoveries))}, max "
                                          f"{_dur(max(recoveries))} over {len(recoveries)} recoveries"
                                          if recoveries else "no recoveries recorded"), ""]

    if affected:
        lines += ["## Affected providers", "",
                  "| provider | first failure | last failure | circuit openings | fall-overs from it "
                  "| main reasons | recovered after |", "|---|---|---|---|---|---|---|"]
        for p, a in sorted(affected.items()):
            reasons = ", ".join(f"{r} ×{n}" for r, n in a["reasons"].most_common(3) if r)
            rec = ", ".join(_dur(d) for d in a["recoveries"][-3:]) or "not yet"
            lines.append(f"| {_cell(p)} | {_t(a['first']) if a['first'] else '-'} | "
                         f"{_t(a['last']) if a['last'] else '-'} | {a['openings']} | "
                         f"{a['fallbacks_from']} | {_cell(reasons)} | {rec} |")
        lines.append("")

    timeline = [e for e in events if e["type"] in TIMELINE_TYPES]
    lines += ["## Timeline", ""]
    if timeline:
        if len(timeline) > TIMELINE_MAX:
            lines += [f"(the last {TIMELINE_MAX} of {len(timeline)} events)", ""]
            timeline = timeline[-TIMELINE_MAX:]
        lines += ["| time (UTC) | event | details |", "|---|---|---|"]
        lines += [f"| {_t(e['ts'])} | {e['type']} | {_cell(_detail(e))} |" for e in timeline]
    else:
        lines.append("No events.")
    lines.append("")

    if requests:
        by_alias: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in requests:
            by_alias[r.get("alias") or "?"].append(r)
        lines += ["## Impact by model", "",
                  "| model alias | requests | answered | after fall-over | failed | p50 ms | failure codes |",
                  "|---|---|---|---|---|---|---|"]
        for alias, rows in sorted(by_alias.items()):
            good = [r for r in rows if r["outcome"] == "ok"]
            bad = Counter(r["outcome"] for r in rows if r["outcome"] != "ok")
            p50 = statistics.median(r["latency_ms"] for r in rows if r["latency_ms"] is not None)
            lines.append(f"| {_cell(alias)} | {len(rows)} | {len(good)} | "
                         f"{sum(1 for r in good if _after_fallover(r))} | "
                         f"{sum(bad.values())} | {p50:.1f} | "
                         f"{_cell(', '.join(f'{c} ×{n}' for c, n in bad.most_common(4)) or '-')} |")
        lines += ["", "## Served by", "", "| target | requests answered |", "|---|---|"]
        lines += [f"| {_cell(p)} | {n} |" for p, n in served_by.most_common()]
        lines.append("")
        cost = sum(r.get("cost_usd") or 0.0 for r in requests)
        if cost:
            lines += [f"Spend in the window: {cost:.6f} USD.", ""]
    return "\n".join(lines)


def _target(row: dict[str, Any]) -> str:
    """The target that answered (the configured provider/model, not an upstream's echo)."""
    model = row.get("model")
    return f"{row['provider']}/{model}" if model else str(row["provider"])


def _after_fallover(row: dict[str, Any]) -> bool:
    """Answered by another than the first choice: after a failed attempt, a skipped target
    (circuit open, rate-limited, ...), or a continuation."""
    skipped = row.get("skipped") or ()
    return ((row.get("attempts") or 0) > 1 or bool(row.get("continuations"))
            or any("/" in str(s).split(":", 1)[0] for s in skipped))
