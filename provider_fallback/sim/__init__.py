"""Simulated providers (OpenAI-compatible, and Anthropic Messages) that misbehave on purpose
(demo, tests, benchmark)."""

from ._bodies import FLAVORS, error_body
from ._faults import Fault
from ._replies import Responder, SimReply, ToolCall
from ._server import SimProvider, SimRequest
from ._thread import SimThread, run_in_thread

__all__ = ["FLAVORS", "Fault", "Responder", "SimProvider", "SimReply", "SimRequest", "SimThread",
           "ToolCall", "error_body", "run_in_thread"]
