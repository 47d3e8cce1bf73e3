"""The provider boundary: HTTP to upstreams and SSE parsing."""

from ._client import UpstreamClient, proxy_for
from ._sse import DONE, iter_sse_data

__all__ = ["DONE", "UpstreamClient", "iter_sse_data", "proxy_for"]
