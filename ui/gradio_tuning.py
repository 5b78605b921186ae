"""Work Gradio does per session that byok-chat does not need, taken out. UI plumbing only.

Each is checked against the pinned Gradio version and does nothing on another, so an upgrade
falls back to Gradio's own behaviour instead of breaking.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
from gradio.state_holder import SessionState

__all__ = ["lean_session_state", "reloading"]

log = logging.getLogger("byok_chat.app")

_CHECKED_ON = "6.31.0"


class _WithoutBlockList:
    """What SessionState.__init__ reads from a Blocks, minus the list of blocks to snapshot."""

    __slots__ = ("blocks", "default_config")

    def __init__(self, blocks: gr.Blocks) -> None:
        self.default_config = blocks.default_config
        self.blocks: dict[int, Any] = {}


def lean_session_state() -> bool:
    """Let a new session start without a copy of every component's config.

    Gradio's SessionState builds, for every new session, the config of every block on the page
    (``config_values``, used only for deep-link snapshots), calling each component's get_config:
    about 1.4 ms of CPU per session for this page's 30 blocks, a tenth of a whole chat's cost
    (bench/RESULTS.md). Gradio already fills an entry in on first use
    (``SessionState._update_value_in_config``), so starting empty changes only what a deep-link
    snapshot holds: the values this session set, not every default again, which are in /config.
    """
    if gr.__version__ != _CHECKED_ON or getattr(SessionState.__init__, "_byok_lean", False):
        return False
    original = SessionState.__init__

    def __init__(self: SessionState, blocks: gr.Blocks) -> None:
        original(self, _WithoutBlockList(blocks))  # type: ignore[arg-type]

    __init__._byok_lean = True  # type: ignore[attr-defined]
    SessionState.__init__ = __init__  # type: ignore[method-assign]
    return True


def reloading() -> bool:
    """True while `gradio app.py` (reload mode) runs the file again after a change. That run only
    rebuilds ``demo`` for Gradio to swap in: the server is already up, so launching is not ours."""
    from gradio.cli.commands.reload import reload_thread

    return bool(getattr(reload_thread, "running_reload", False))
