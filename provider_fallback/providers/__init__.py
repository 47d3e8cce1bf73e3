"""The provider boundary: pooled HTTP client, each provider API's dialect, SSE reading."""

from ._client import UpstreamClient, proxy_for
from ._dialects import APIS, OPENAI, Dialect, Origin, StreamDecoder, dialect_for
from ._sse import (
           DONE,
           EventReader,
           SSEParser,
           Watchdog,
           WatchdogExpired,
           iter_sse_data,
           read_events,
)

__all__ = ["APIS", "DONE", "OPENAI", "Dialect", "EventReader", "Origin", "SSEParser", "StreamDecoder",
           "UpstreamClient", "Watchdog", "WatchdogExpired", "dialect_for", "iter_sse_data",
           "proxy_for", "read_events"]
