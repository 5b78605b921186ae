"""Event options and hooks shared by the page's wiring."""

from __future__ import annotations

from collections.abc import Callable
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
    for index in _reply_events(demo, chat_ui):
        then = EventListener(
            "then", trigger_after=index, trigger_only_on_success=False, trigger_only_on_failure=False, has_trigger=False
        )
        then.listener(chat_ui.chatbot, fn, inputs, outputs, **PRIVATE)


def settle_each_copy(demo: gr.Blocks, chat_ui: gr.ChatInterface, settle: Callable[[Any], Any]) -> None:
    """Pass the chat through ``settle`` wherever ChatInterface copies it into its own state after a
    reply (chatbot_state, which the next reply is built on, and which saved chats are taken from).

    That copy runs outside the queue, on the chat as it was when the reply ended. After Stop, our
    own fix-up of the chat (queued) usually lands after it; on a busy machine it can land first,
    and the copy then puts back what the fix-up had just mended, to return with the next message.
    """
    after = set(_reply_events(demo, chat_ui))
    copy_outputs = [chat_ui.chatbot_state._id, chat_ui.chatbot_value._id]
    copies = [
        block_fn
        for block_fn in demo.fns.values()
        if block_fn.trigger_after in after
        and [i._id for i in block_fn.inputs] == [chat_ui.chatbot._id]
        and [o._id for o in block_fn.outputs] == copy_outputs
    ]
    assert len(copies) == len(after), "ChatInterface's state copies were not found"
    for block_fn in copies:
        copy = block_fn.fn
        block_fn.fn = lambda history, copy=copy: copy(settle(history))


def _reply_events(demo: gr.Blocks, chat_ui: gr.ChatInterface) -> list[int]:
    """ChatInterface's reply events: the ones that write into (null_component, chatbot)."""
    reply_outputs = [chat_ui.null_component._id, chat_ui.chatbot._id]
    reply_events = [
        index for index, block_fn in demo.fns.items() if [o._id for o in block_fn.outputs][:2] == reply_outputs
    ]
    assert reply_events, "ChatInterface's reply events were not found"
    return reply_events
