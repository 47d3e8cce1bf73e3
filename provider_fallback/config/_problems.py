"""Config problems are collected, then raised together as one ConfigError."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from ..errors._exceptions import ConfigError

__all__ = ["Problem", "did_you_mean", "raise_problems"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the config: where (key path), what, and how to fix it."""

    key: str | None
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        text = f"{self.key}: {self.message}" if self.key else self.message
        return f"{text} (fix: {self.fix})" if self.fix else text


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" did you mean 'x'?" for the closest choice, or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def raise_problems(problems: Sequence[Problem], file: str | None) -> NoReturn:
    """One ConfigError for all problems; `.problems` holds one line per problem."""
    if len(problems) == 1:
        only = problems[0]
        exc = ConfigError(only.message, file=file, key=only.key, fix=only.fix)
    else:
        lines = "\n".join(f"  - {p}" for p in problems)
        exc = ConfigError(f"{len(problems)} problems:\n{lines}", file=file)
    exc.problems = [str(p) for p in problems]  # type: ignore[attr-defined]
    raise exc
