"""Structured logs (console or JSON lines) with secrets redacted by construction.

Every line goes through one formatter that (1) replaces every configured secret value (provider
keys, secret headers, the master key, webhook URLs), and every 12+ character piece of one,
with `[secret]` and (2) applies the registry's key-shaped pattern scrubber, after the
message, its arguments and any traceback have been rendered. So a secret cannot reach the
log whatever a caller formats into it. Terminal escape sequences (uvicorn colours its own
lines) and other control characters are removed, so a log file holds text only and a
client cannot forge log lines with what it sends.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

from .._redact import Redactor
from .._secret import Secret
from ..config import Config
from ..errors import scrub_secrets

__all__ = ["JsonFormatter", "RedactingFormatter", "configure_logging", "config_secrets", "redact"]

MASK = "[secret]"
# attributes of every LogRecord; anything else was passed in `extra=` and is structured data
# (uvicorn's `color_message` is its own line again, with ANSI colours: never ours)
_STD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "color_message"}
# CSI/OSC escape sequences, then any C0/C1 control character but newline and tab
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def config_secrets(config: Config) -> list[str]:
    """Every secret value in a config (at least 4 characters, longest first)."""
    found: list[str] = []
    for p in config.providers.values():
        if p.api_key is not None:
            found.append(p.api_key.reveal())
        found += [v.reveal() for v in p.headers.values() if isinstance(v, Secret)]
    if config.server.master_key is not None:
        found.append(config.server.master_key.reveal())
    found += [w.url.reveal() for w in config.alerts.webhooks]
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] | Redactor) -> str:
    """`text` with these secrets (and the process-wide ones, and key shapes) masked."""
    redactor = secrets if isinstance(secrets, Redactor) else Redactor(secrets)
    return scrub_secrets(redactor.mask(text))


def _plain_text(line: str) -> str:
    if "\x1b" in line:
        line = _ESCAPES.sub("", line)
    return _CONTROLS.sub("", line)


class RedactingFormatter(logging.Formatter):
    """Console lines: `time level logger [request_id] message key=value ...`, redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.secrets = Redactor(secrets)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        # one record, one line: a newline in a message (a client's model name, an upstream's
        # text) is shown as \n, so nobody can forge a log line; tracebacks stay multi-line
        if "\n" in record.message or "\r" in record.message:
            record.message = record.message.replace("\r", "\\r").replace("\n", "\\n")
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = _extra(record)
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return redact(_plain_text(line), self.secrets)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id and any `extra=` fields."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name,
            "msg": _plain_text(record.getMessage())}
        doc.update(_extra(record))
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        # masked value by value, before encoding: a mask must never split a JSON escape
        doc = {k: redact(v, self.secrets) if isinstance(v, str) else v for k, v in doc.items()}
        return redact(json.dumps(doc, default=str, ensure_ascii=False), self.secrets)


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STD and not k.startswith("_")}


def configure_logging(fmt: str = "console", level: str = "info", *,
                      secrets: Iterable[str] = (), stream: Any = None) -> logging.Handler:
    """Route every log record (ours, uvicorn's, aiohttp's) through one redacting handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else RedactingFormatter(secrets))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
        lg.setLevel(logging.NOTSET)   # the root's level decides, as for every other logger
    # the gateway logs each request itself (provider_fallback.requests); uvicorn writes an
    # access line whenever this logger has a handler, inherited ones included
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False
    return handler
