import pytest


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch):
    """Doctor reads HTTP(S)_PROXY; the developer's own proxy settings must not leak in."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                 "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
