"""Client wire formats as adapters at the edge of the one attempt loop.

Each format turns its client's request into the internal request (an OpenAI
chat-completions body) and the internal answer or chunk stream back into its own wire
format; fall-over, circuits, limits, budget and usage never know which format was spoken.
"""

from ._base import Answered, Context, StreamEncoder, WireFormat, sse
from ._chat import CHAT
from ._messages import MESSAGES
from ._responses import RESPONSES

FORMATS: dict[str, WireFormat] = {f.name: f for f in (CHAT, MESSAGES, RESPONSES)}

__all__ = ["CHAT", "FORMATS", "MESSAGES", "RESPONSES", "Answered", "Context", "StreamEncoder",
           "WireFormat", "sse"]
