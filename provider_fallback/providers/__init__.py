"""The provider boundary: HTTP to upstreams, each provider API's dialect, SSE parsing."""

from ._client import UpstreamClient, proxy_for
from ._dialects import APIS, OPENAI, Dialect, Origin, StreamDecoder, dialect_for
from ._sse import DONE, iter_sse_data

__all__ = ["APIS", "DONE", "OPENAI", "Dialect", "Origin", "StreamDecoder", "UpstreamClient",
           "dialect_for", "iter_sse_data", "proxy_for"]
