"""byok-chat's provider adapter: which providers exist, one streaming request to any of them, and
what their failures mean.

The table (``registry``), the request the adapter is given (``request``), the stream (``chat``,
over the shared pool in ``pool`` or, for a visitor's own endpoint, the network guard in
``urlguard``), model lists (``models``), and the reading of provider errors (``classify``,
``error_formats``). Nothing here imports Gradio or the web boundary.
"""

from .chat import ChatStream, Reply, ReplyStats, Usage, close_pools
from .classify import Diagnosis, classify, error_for
from .reasoning import EFFORTS, ReasoningControl, effort_options, parse_effort
from .registry import CUSTOM_ID, PROVIDERS, VISITOR_ENDPOINT, Provider
from .request import ChatRequest

__all__ = [
    "CUSTOM_ID",
    "EFFORTS",
    "PROVIDERS",
    "VISITOR_ENDPOINT",
    "ChatRequest",
    "ChatStream",
    "Diagnosis",
    "Provider",
    "ReasoningControl",
    "Reply",
    "ReplyStats",
    "Usage",
    "classify",
    "close_pools",
    "effort_options",
    "error_for",
    "parse_effort",
]
