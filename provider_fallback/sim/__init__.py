"""Simulated OpenAI-compatible providers that misbehave on purpose (demo, tests, benchmark)."""

from ._bodies import FLAVORS, error_body
from ._faults import Fault
from ._server import SimProvider, SimRequest
from ._thread import SimThread, run_in_thread

__all__ = ["FLAVORS", "Fault", "SimProvider", "SimRequest", "SimThread", "error_body",
           "run_in_thread"]
