"""Event options and hooks shared by the page's wiring."""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.events import EventListener

# The key's events and the other helpers are private: never in the API docs, never in the
# browser's run history.
PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}


def after_each_reply(demo: gr.Blocks, chat_ui: gr.ChatInterface, fn: Any, outputs: Any, inputs: Any = None) -> None:
    """Run ``fn`` when a reply ends, however it was asked for (send, retry, edit) or stopped.

    ChatInterface keeps its event chains to itself and its state copies happen outside the queue,
    where state changes trigger nothing. Its reply events are the ones that write into
    (null_component, chatbot): chain a "then" after each of them, as Dependency.then would.
    """
    reply_outputs = [chat_ui.null_component._id, chat_ui.chatbot._id]
    reply_events = [
        index for index, block_fn in demo.fns.items() if [o._id for o in block_fn.outputs][:2] == reply_outputs
    ]
    assert reply_events, "ChatInterface's reply events were not found"
    for index in reply_events:
        then = EventListener(
            "then", trigger_after=index, trigger_only_on_success=False, trigger_only_on_failure=False, has_trigger=False
        )
        then.listener(chat_ui.chatbot, fn, inputs, outputs, **PRIVATE)
