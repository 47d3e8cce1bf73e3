"""The provider boundary: pooled HTTP client, SSE reading."""

from ._client import UpstreamClient, proxy_for
from ._sse import DONE, SSEParser, Watchdog, WatchdogExpired, iter_sse_data, read_events

__all__ = ["DONE", "SSEParser", "UpstreamClient", "Watchdog", "WatchdogExpired", "iter_sse_data",
           "proxy_for", "read_events"]
