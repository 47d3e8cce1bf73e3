"""The one exception tree of provider-fallback.

    ProviderFallbackError            every error we raise; has .code, .provider, .model
    ├── ConfigError                  bad configuration: names file, key path and fix
    ├── InvalidRequestError          the caller's request is unusable (4xx, never retried)
    ├── UpstreamError                one attempt against one target failed (carries a Failure)
    │   └── StreamInterruptedError   a stream broke after content was sent to the client
    └── AllProvidersFailedError      every target of the chain failed (503, lists attempts)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._steps import Facts, Shell, Step, render_steps
from ._types import Failure

__all__ = [
    "AllProvidersFailedError",
    "Attempt",
    "ConfigError",
    "InvalidRequestError",
    "ProviderFallbackError",
    "StreamInterruptedError",
    "UpstreamError",
]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try against one target, as reported to the caller."""

    provider: str
    model: str
    code: str          # registry code, or "ok"
    status: int | None
    ms: float
    note: str = ""     # e.g. "bypass: every target cooling down", "retry 1"

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"provider": self.provider, "model": self.model, "code": self.code,
                             "status": self.status, "ms": round(self.ms, 2)}
        if self.note:
            d["note"] = self.note
        return d


class ProviderFallbackError(Exception):
    """Root of every error provider-fallback raises."""

    code: str = "gateway_error"
    http_status: int = 500
    error_type: str = "server_error"

    def __init__(self, message: str, *, code: str | None = None, provider: str | None = None,
                 model: str | None = None, resolution: Sequence[str | Step] = (),
                 http_status: int | None = None, facts: Facts | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.provider = provider
        self.model = model
        self.steps: tuple[str | Step, ...] = tuple(resolution)   # templates
        # what the steps are filled with; whoever knows more (the gateway, the CLI) adds to it
        own = Facts(provider=provider, model=model)
        self.facts = own if facts is None else own.merge(facts)

    @property
    def resolution(self) -> tuple[str, ...]:
        """The steps to fix it, filled with what is known, for this machine's shell."""
        return self.render_resolution()

    def render_resolution(self, facts: Facts | None = None,
                          shell: Shell | None = None) -> tuple[str, ...]:
        """The steps for `shell` with this error's facts, gaps filled from `facts`."""
        return render_steps(self.steps, self.facts.merge(facts), shell)

    def to_openai_error(self, facts: Facts | None = None,
                        shell: Shell | None = None) -> dict[str, Any]:
        """The body of an OpenAI-format error response (steps filled from `facts` too)."""
        err: dict[str, Any] = {"message": self.message, "type": self.error_type,
                               "code": self.code, "param": None}
        if self.provider:
            err["provider"] = self.provider
        if self.model:
            err["model"] = self.model
        resolution = self.render_resolution(facts, shell)
        if resolution:
            err["resolution"] = list(resolution)
        return {"error": err}


class ConfigError(ProviderFallbackError):
    """The configuration is invalid. The message names the file, the key path and the fix."""

    code = "config_error"
    http_status = 500

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None,
                 fix: str | None = None) -> None:
        parts = []
        if file:
            parts.append(file)
        if key:
            parts.append(key)
        where = ": ".join(parts)
        text = f"{where}: {message}" if where else message
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text, resolution=(fix,) if fix else ())
        self.file = file
        self.key = key
        self.fix = fix


class InvalidRequestError(ProviderFallbackError):
    """The caller's request cannot be served as it is (answered with a 4xx)."""

    code = "invalid_request"
    http_status = 400
    error_type = "invalid_request_error"


class UpstreamError(ProviderFallbackError):
    """One attempt against one target failed; `failure` says how, in registry terms."""

    def __init__(self, failure: Failure, headers: Mapping[str, str] | None = None) -> None:
        spec = failure.spec
        msg = failure.message or spec.summary
        where = f"{failure.provider}/{failure.model}" if failure.provider else ""
        super().__init__(f"{where}: {msg}" if where else msg, code=spec.code,
                         provider=failure.provider, model=failure.model,
                         resolution=spec.resolution, http_status=spec.http_status)
        self.failure = failure
        self.error_type = _error_type(spec.http_status)
        # the upstream's response headers, when it answered (rate-limit ledgers learn from them)
        self.headers = headers


class StreamInterruptedError(UpstreamError):
    """The upstream stream failed after content had reached the client."""


class AllProvidersFailedError(ProviderFallbackError):
    """Every target of a chain failed; `attempts` lists each try."""

    code = "all_providers_failed"
    http_status = 503
    error_type = "service_unavailable"

    def __init__(self, alias: str, attempts: Sequence[Attempt], *,
                 retry_after: float | None = None, last: Failure | None = None,
                 skipped: Sequence[str] = ()) -> None:
        tried = ", ".join(f"{a.provider}/{a.model}={a.code}" for a in attempts) or "none"
        held = f"; skipped: {'; '.join(skipped)}" if skipped else ""
        # the last failure's own steps (filled with its provider's facts) come after the
        # general ones: "start LiteLLM on port 4299" beats "run doctor"
        own = last.spec.resolution if last is not None else ()
        super().__init__(
            f"all providers failed for model '{alias}' (tried: {tried}{held})",
            resolution=("Run `provider-fallback doctor --config {config}` and check "
                        "{gateway_url}/health/providers", *own,
                        "Wait for Retry-After seconds, or add another provider to the chain"),
        )
        self.alias = alias
        self.attempts = tuple(attempts)
        self.retry_after = retry_after
        self.last = last
        self.skipped = tuple(skipped)
        if last is not None:
            self.provider, self.model = last.provider, last.model
            self.facts = Facts(provider=last.provider, model=last.model)

    def to_openai_error(self, facts: Facts | None = None,
                        shell: Shell | None = None) -> dict[str, Any]:
        body = super().to_openai_error(facts, shell)
        body["error"]["attempts"] = [a.as_dict() for a in self.attempts]
        if self.skipped:
            body["error"]["skipped"] = list(self.skipped)
        if self.retry_after is not None:
            body["error"]["retry_after"] = round(self.retry_after, 3)
        return body


def _error_type(status: int) -> str:
    if status in (401, 403):
        return "authentication_error"
    if status == 429:
        return "rate_limit_error"
    if 400 <= status < 500:
        return "invalid_request_error"
    return "server_error"
