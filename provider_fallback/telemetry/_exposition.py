"""The Prometheus text format (0.0.4), written for the gateway's own metric families.

prometheus_client's `generate_latest` validates and escapes every label name of every
sample with regular expressions; with 1,000 configured targets that was most of a
scrape's cost. The gateway's metric and label names are fixed identifiers, so only label
values need escaping. The output is byte-for-byte what `generate_latest` writes for the
same families (a test compares them).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

__all__ = ["text_format"]

_SUFFIX = {"counter": "_total"}
_OPENMETRICS_ONLY = ("_created", "_gsum", "_gcount")


def _escape(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def text_format(families: Iterable[Metric]) -> bytes:
    out: list[str] = []
    add = out.append
    values: dict[float, str] = {}
    for metric in families:
        name = metric.name + _SUFFIX.get(metric.type, "")
        kind = "untyped" if metric.type == "unknown" else metric.type
        doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        add(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n")
        skip = tuple(metric.name + s for s in _OPENMETRICS_ONLY)
        for s in metric.samples:
            if s.name in skip:
                continue   # the gateway's families have none; kept out like generate_latest
            text = values.get(s.value)
            if text is None:
                text = values[s.value] = floatToGoString(s.value)
            if s.labels:
                labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
                add(f"{s.name}{{{labels}}} {text}\n")
            else:
                add(f"{s.name} {text}\n")
    return "".join(out).encode("utf-8")
