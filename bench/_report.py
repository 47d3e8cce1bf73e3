"""Markdown tables (ready for the README) from bench_gateway.py's results."""

from __future__ import annotations

from typing import Any

__all__ = ["markdown", "markdown_telemetry", "mode_label"]


def mode_label(chunks: int | str) -> str:
    chunks = int(chunks)
    return "non-streaming" if not chunks else f"streams of {chunks} chunks"


def _n(value: float | None, digits: int = 0, bold: bool = False) -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.{digits}f}"
    return f"**{text}**" if bold else text


def _signed(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _sys(mode: dict[str, Any], key: str, field: str) -> float | None:
    s = mode["systems"].get(key)
    return None if s is None else s.get(field)


def markdown(result: dict[str, Any]) -> str:
    info, modes = result["info"], result["modes"]
    conns = info["connections"]
    out = [f"Medians of {info['rounds']} interleaved rounds of {info['duration']:g} s, "
           f"load generator {info['loadgen']}, continuation: {info['continuation']}, "
           f"upstream: {info.get('upstream_writes', 'each response in one write')}; "
           "ratios are the medians of each round's own ratio."]
    out.append(_table(
        [f"at {conns} connections", "direct upstream", "bare relay", "provider-fallback",
         "ratio"],
        [[f"{mode_label(c)} req/s", _n(_sys(m, "direct", "rps")), _n(_sys(m, "bare", "rps")),
          _n(_sys(m, "gateway", "rps")), _n(m["gateway_vs_bare_rps"], 2, bold=True)]
         for c, m in modes.items()]))
    out.append(_table(
        ["at 1 connection, p50 ms", "direct upstream", "bare relay", "provider-fallback",
         "bare relay adds", "provider-fallback adds", "gateway minus bare relay"],
        [[mode_label(c), _n(_sys(m, "direct", "p50_ms_c1"), 3),
          _n(_sys(m, "bare", "p50_ms_c1"), 3), _n(_sys(m, "gateway", "p50_ms_c1"), 3),
          _signed(m["bare_added_p50_ms"]), _signed(m["gateway_added_p50_ms"]),
          _signed(m["gateway_minus_bare_p50_ms"])] for c, m in modes.items()]))
    out.append(_table(
        [f"CPU at {conns} connections", "bare relay µs/request", "provider-fallback µs/request",
         "bare relay µs/chunk", "provider-fallback µs/chunk", "upstream busy (core share)"],
        [[mode_label(c), _n(_sys(m, "bare", "cpu_us_per_request"), 1),
          _n(_sys(m, "gateway", "cpu_us_per_request"), 1),
          _n(_sys(m, "bare", "cpu_us_per_chunk"), 2),
          _n(_sys(m, "gateway", "cpu_us_per_chunk"), 2, bold=int(c) >= 200),
          _n(_sys(m, "gateway", "upstream_busy"), 2)] for c, m in modes.items()]))
    extra_cols = [("dead_vs_healthy_rps", "dead primary / healthy chain, req/s"),
                  ("dead_vs_healthy_p50", "dead primary / healthy chain, p50 @1"),
                  ("workers2_vs_1_rps", "serve --workers 2 / 1 worker, req/s"),
                  ("continuation_on_vs_off_rps", "continuation on / off, req/s"),
                  ("continuation_on_vs_off_p50", "continuation on / off, p50 @1")]
    cols = [(k, h) for k, h in extra_cols if any(m.get(k) is not None for m in modes.values())]
    if cols:
        out.append(_table(["ratios"] + [h for _, h in cols],
                          [[mode_label(c)] + [_n(m.get(k), 2) for k, _ in cols]
                           for c, m in modes.items()]))
    rss = result.get("rss")
    if rss:
        rows = []
        for key in ("bare", "gateway"):
            r = rss.get(key)
            if not r:
                continue
            before, after = r["before"] or {}, r["after"] or {}
            rows.append([r["label"], _n(before.get("rss"), 1), _n(after.get("rss"), 1,
                                                                  bold=key == "gateway"),
                         _n(after.get("peak"), 1), _n(r["rps"]), str(r["errors"])])
        out.append(_table([f"{rss['connections']:,} connections, {mode_label(rss['chunks'])}",
                           "RSS before, MiB", "RSS after, MiB", "peak RSS, MiB", "req/s",
                           "errors"], rows))
    errors = {f"{s['label']} ({mode_label(c)})": s["errors"]
              for c, m in modes.items() for s in m["systems"].values() if s["errors"]}
    out.append("Errors: " + (", ".join(f"{k}: {v}" for k, v in errors.items()) or "none") + ".")
    return "\n\n".join(out) + "\n"


def markdown_telemetry(result: dict[str, Any]) -> str:
    info, modes = result["info"], result["modes"]
    out = [f"Medians of {info['rounds']} interleaved rounds of {info['duration']:g} s, "
           f"load generator {info['loadgen']}; {info['request_rows_logged']:,} request rows "
           f"logged, {info['metrics_scrapes']} scrapes of /metrics."]
    for c, m in modes.items():
        rows = [[s["label"], _n(s["rps"]), _n(s["p50_ms_c1"], 3), _n(s["p99_ms_c1"], 3),
                 str(s["errors"])] for s in m["systems"].values()]
        rows.append(["on / off", _n(m["on_vs_off_rps"], 2, bold=True),
                     _signed(m["added_p50_ms_on_vs_off"]), "", ""])
        out.append(f"{mode_label(c)}:\n\n" + _table(
            ["scenario", f"req/s @ {info['connections']} conns", "p50 ms @ 1 conn",
             "p99 ms @ 1 conn", "errors"], rows))
    return "\n\n".join(out) + "\n"
