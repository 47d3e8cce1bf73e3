"""Routing: the attempt loop, retry/fall-over policy, and what it returns."""

from ._policy import Decision, backoff_delay, cooldown_of, decide
from ._result import Completion, StreamingCompletion
from ._router import Router

__all__ = ["Completion", "Decision", "Router", "StreamingCompletion", "backoff_delay",
           "cooldown_of", "decide"]
