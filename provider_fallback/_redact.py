"""Masking configured secrets in any text: the whole value, the value without its known
prefix, and every piece of it 12 characters or longer, whatever surrounds it.

A `Redactor` is built once from the secret values (never on the request path). Masking is
a scan of the text: every 7th position is looked up in the set of the secrets' 6-character
pieces (any 12-character piece of a secret contains one of them at such a position), and
only when one is found are the 12-character windows around it checked and merged into
masked spans. So ordinary text costs one set lookup per 7 characters.

`REDACTOR` is the process-wide one: every configured `Router` registers its config's
secrets there, so error messages are masked where they are made (the classifier calls
`mask` before it shortens a message), and nothing downstream can truncate a secret into a
piece no mask recognises.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

__all__ = ["KNOWN_PREFIXES", "MASK", "MIN_PIECE", "REDACTOR", "Redactor", "mask"]

MASK = "[secret]"
MIN_PIECE = 12          # any piece of a secret this long or longer is masked
_GRAM = 6               # sampled piece length; the sampling stride is MIN_PIECE - _GRAM + 1
_STRIDE = MIN_PIECE - _GRAM + 1
_MIN_SECRET = 4         # shorter values are not secrets (and would mask ordinary words)
_MIN_STRIPPED = 8       # a short secret's prefix-less form is masked from this length on
# Longest first: "sk-or-v1-" must be tried before "sk-or-" and "sk-".
KNOWN_PREFIXES = ("sk-or-v1-", "sk-ant-api03-", "sk-ant-", "sk-proj-", "sk-or-", "sk-", "gsk_",
                  "xai-", "hf_", "ghp_", "github_pat_")


def _without_prefix(secret: str) -> str | None:
    for prefix in KNOWN_PREFIXES:
        if secret.startswith(prefix) and len(secret) > len(prefix):
            return secret[len(prefix):]
    return None


class Redactor:
    """Masks a fixed set of secret values in text. Immutable once built; thread-safe."""

    __slots__ = ("_grams", "_short", "_windows", "secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if isinstance(s, str) and len(s.strip()) >= _MIN_SECRET}
        self.secrets: tuple[str, ...] = tuple(sorted(values, key=len, reverse=True))
        short: set[str] = set()
        windows: set[str] = set()
        for secret in self.secrets:
            stripped = _without_prefix(secret)
            if len(secret) < MIN_PIECE:
                short.add(secret)
                if stripped is not None and len(stripped) >= _MIN_STRIPPED:
                    short.add(stripped)
                continue
            # the prefix-less form is a piece of the secret: covered when it is 12+ long
            if stripped is not None and _MIN_STRIPPED <= len(stripped) < MIN_PIECE:
                short.add(stripped)
            windows.update(secret[i:i + MIN_PIECE] for i in range(len(secret) - MIN_PIECE + 1))
        self._short = tuple(sorted(short, key=len, reverse=True))
        self._windows = frozenset(windows)
        self._grams = frozenset(w[i:i + _GRAM] for w in windows for i in range(MIN_PIECE - _GRAM + 1))

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def mask(self, text: str) -> str:
        """`text` with every occurrence of a secret, and of any 12+ character piece of one,
        replaced by `[secret]`."""
        if self._windows and len(text) >= MIN_PIECE:
            text = self._mask_pieces(text)
        for secret in self._short:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def _mask_pieces(self, text: str) -> str:
        grams = self._grams
        hits = [j for j in range(0, len(text) - _GRAM + 1, _STRIDE) if text[j:j + _GRAM] in grams]
        if not hits:
            return text  # the common case: nothing that could be a piece of a secret
        # a matching 12-character window [i, i+12) holds a sampled position j in [i, i+6]:
        # only the windows starting within 6 before a hit need checking
        windows = self._windows
        spans: list[list[int]] = []
        last_start = len(text) - MIN_PIECE
        checked = -1
        for j in hits:
            for i in range(max(checked + 1, j - _STRIDE + 1), min(j, last_start) + 1):
                if text[i:i + MIN_PIECE] in windows:
                    end = i + MIN_PIECE
                    if spans and i <= spans[-1][1]:
                        spans[-1][1] = end
                    else:
                        spans.append([i, end])
            checked = max(checked, min(j, last_start))
        if not spans:
            return text
        out: list[str] = []
        pos = 0
        for start, end in spans:
            out += (text[pos:start], MASK)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def mask_value(self, value: Any) -> Any:
        """Every string inside dicts, lists and tuples masked (keys too); other values as they are."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask(k) if isinstance(k, str) else k: self.mask_value(v)
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_value(v) for v in value]
        return value


class _Registry:
    """The secrets of every live configured Router in this process, as one Redactor.

    Each owner registers its values and they are dropped when the owner is garbage
    collected, so a long-lived process that builds routers for new configs does not keep
    every old key (and the lookup sets do not grow without bound).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[int, tuple[str, ...]] = {}
        self._next = 0
        self.current = Redactor()

    def register(self, owner: object, secrets: Iterable[str]) -> None:
        values = tuple(secrets)
        if not values:
            return
        with self._lock:
            token = self._next
            self._next += 1
            self._owners[token] = values
            self._rebuild()
        weakref.finalize(owner, self._drop, token)

    def _drop(self, token: int) -> None:
        with self._lock:
            if self._owners.pop(token, None) is not None:
                self._rebuild()

    def _rebuild(self) -> None:
        self.current = Redactor(s for values in self._owners.values() for s in values)

    def mask(self, text: str) -> str:
        return self.current.mask(text)


REDACTOR = _Registry()


def mask(text: str) -> str:
    """`text` with every registered secret (and every 12+ character piece of one) masked."""
    return REDACTOR.current.mask(text)
