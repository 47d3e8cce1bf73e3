"""Redirects at the provider boundary: followed on the same origin, never to another host.

A client that follows redirects by itself (aiohttp does) drops `Authorization` when the host changes, so a
provider that moved answered the key-less request with a 401 and was cooled down as an
auth failure. Here every request is sent with `allow_redirects=False`: a redirect to the
same scheme, host and port is followed (up to `MAX_HOPS`, the same method and body, so a
POST stays a POST); one anywhere else is returned to the caller as it is, and becomes a
`provider_moved` failure naming the new URL and the `base_url` to write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from ..errors import Failure, spec

__all__ = ["MAX_HOPS", "REDIRECTS", "follow", "moved", "same_origin", "send"]

REDIRECTS = frozenset({301, 302, 307, 308})
MAX_HOPS = 5


def same_origin(a: str, b: str) -> bool:
    """Same scheme, host and port (a switch from https to http is not the same origin)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, (pa.hostname or "").lower(), pa.port) == \
        (pb.scheme, (pb.hostname or "").lower(), pb.port)


def _shown(url: str) -> str:
    """A URL fit to print: no query string or credentials (either may carry a token)."""
    p = urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host = f"{host}:{p.port}"
    return urlunsplit((p.scheme, host, p.path, "", ""))


async def follow(request: Callable[[str], Awaitable[Any]], url: str,
                 first: Any = None) -> tuple[Any, str]:
    """`request(url)`'s response, following same-origin redirects; and the URL it answered
    for. A redirect elsewhere (or past MAX_HOPS) comes back unfollowed: status 3xx.
    `first`: the answer to `url` already received (a caller that asked once itself and
    comes here only when that answer was a redirect)."""
    for _ in range(MAX_HOPS):
        resp, first = (await request(url) if first is None else first), None
        if resp.status not in REDIRECTS:
            return resp, url
        location = resp.headers.get("Location")
        if not location:
            return resp, url
        target = urljoin(url, location)
        if not same_origin(url, target):
            return resp, url
        resp.release()
        url = target
    return await request(url), url


async def send(session: Any, method: str, url: str, **kwargs: Any) -> tuple[Any, str]:
    """`follow` for a session: the gateway's `Fetcher` (probes) or an aiohttp session
    (the doctor's requests)."""
    return await follow(lambda u: session.request(method, u, allow_redirects=False, **kwargs),
                        url)


def moved(resp: Any, url: str, base_url: str, *, provider: str,
          model: str | None = None) -> Failure:
    """The failure for an unfollowed redirect of the request to `url` (under `base_url`)."""
    location = resp.headers.get("Location")
    if not location:
        return Failure(spec("endpoint_not_found"), provider=provider, model=model,
                       status=resp.status,
                       message=f"{_shown(url)} answered {resp.status} without a Location")
    target = urljoin(url, location)
    if same_origin(url, target):
        return Failure(spec("endpoint_not_found"), provider=provider, model=model,
                       status=resp.status,
                       message=f"{_shown(url)}: more than {MAX_HOPS} redirects on the same host")
    path = url[len(base_url):] if url.startswith(base_url) else ""
    shown = _shown(target)
    new_base = shown[:-len(path)] if path and shown.endswith(path) else None
    fix = (f"set base_url: {new_base}" if new_base
           else "set base_url to the provider's new address")
    return Failure(spec("provider_moved"), provider=provider, model=model, status=resp.status,
                   message=f"{provider} moved: {_shown(url)} redirects ({resp.status}) to "
                           f"{shown}; the key was not sent there. {fix}",
                   detail={"location": shown, **({"new_base_url": new_base} if new_base else {})})
