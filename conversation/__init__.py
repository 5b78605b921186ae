"""The conversation: what the browser sent turned into a request we are willing to make
(``request``, with files from ``attachments``), our annotations on its text (``text``), exports and
imports (``transcript``), and one chat end to end: key, admission, stream, count (``service``).
"""

from .request import ChatInputs, build_request
from .service import Caller, ChatService
from .text import CUT_OFF_MARK, REPLY_STATS_CLASS, STOPPED_MARK, clean_text

__all__ = [
    "CUT_OFF_MARK",
    "REPLY_STATS_CLASS",
    "STOPPED_MARK",
    "Caller",
    "ChatInputs",
    "ChatService",
    "build_request",
    "clean_text",
]
