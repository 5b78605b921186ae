"""The door of Gradio's queue: MAX_CHATS_PER_CLIENT, and events that name fewer values than
their inputs. UI plumbing only.

Gradio's queue is first come, first served for everyone, and holds up to QUEUE_MAX_SIZE events. A
chat over the cap was refused only when it reached a slot, so one client could still fill the
queue (everyone else then reads "Queue is full") or stand in front of every later visitor. Here a
chat is refused as it joins when its client already has MAX_CHATS_PER_CLIENT chats waiting or
running; the page shows the refusal (Gradio's client shows the ``detail`` of a refused join).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import fastapi
import gradio as gr
from gradio.block_function import BlockFunction

from errors import TooManyChats
from ui.handlers import PageHandlers
from ui.language import language_of

__all__ = ["chat_events", "guard_queue"]

log = logging.getLogger("byok_chat.boundary")

MISMATCH = "The request does not match this app's API."
# Gradio passes the chat's inputs in this order: message, history, then the additional inputs.
_PROVIDER_INPUT = 2


def chat_events(demo: gr.Blocks, chat_ui: gr.ChatInterface) -> set[BlockFunction]:
    """Every event that runs the chat: the page's send, retry, edit and example events, and the
    public API's, which all take the history and every additional input."""
    wanted = {id(block) for block in (chat_ui.chatbot_state, *chat_ui.additional_inputs)}
    return {fn for fn in demo.fns.values() if wanted <= {id(block) for block in fn.inputs}}


def guard_queue(demo: gr.Blocks, chat_ui: gr.ChatInterface, handlers: PageHandlers) -> None:
    """Wrap the queue's ``push`` (call after ``demo.queue()``)."""
    queue = demo._queue
    chats = chat_events(demo, chat_ui)
    push = queue.push
    # The client of each chat event Gradio holds (waiting or running), by event id; an id Gradio
    # no longer holds has ended, and is forgotten at the next join.
    clients: dict[str, str] = {}
    # Joins under way: counted before Gradio's push awaits anything, so a burst of joins from one
    # client cannot all pass the count at once.
    joining: Counter[str] = Counter()

    async def capped_push(body: Any, request: fastapi.Request, username: str | None) -> tuple[bool, Any, str]:
        fn = demo.fns.get(body.fn_index) if isinstance(body.fn_index, int) else None
        if fn is not None and isinstance(body.data, list) and len(body.data) < len(fn.inputs):
            # Gradio would take the event, then print every value it was given (megabytes, if the
            # caller wants) to the log with its error: refused at the door instead, in one line.
            log.warning("refused an event with %s of its %s inputs", len(body.data), len(fn.inputs))
            return False, MISMATCH, "error"
        if fn not in chats:
            return await push(body, request, username)
        visitor = gr.Request(request=request, username=username)
        client = handlers.caller(visitor).client
        held = queue.event_ids_to_events
        for event_id in [e for e in clients if e not in held]:
            del clients[event_id]
        data = body.data if isinstance(body.data, list) else []
        provider_id = data[_PROVIDER_INPUT] if len(data) > _PROVIDER_INPUT else None
        try:
            handlers.service.admission.may_queue(
                client, provider_id, sum(1 for c in clients.values() if c == client) + joining[client]
            )
        except TooManyChats as refused:
            return False, refused.text(language_of(visitor)), "error"
        joining[client] += 1
        try:
            joined, event_id, state = await push(body, request, username)
        finally:
            joining[client] -= 1
            if not joining[client]:
                del joining[client]
        if joined and isinstance(event_id, str):
            clients[event_id] = client
        return joined, event_id, state

    queue.push = capped_push  # type: ignore[method-assign]
