"""What an event knows about the browser behind it: the boundary's cookie binding
(web/boundary.py), the Hugging Face login, and Gradio's stored copies of its inputs."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from web.sessions import BOUND_STATE_KEY, BROWSER_OWNER_KEY


def browser_owner(request: gr.Request) -> str:
    """The digest of this request's browser cookie, set by the boundary ("" without one)."""
    scope = request.request.scope if request.request is not None else {}
    owner = scope.get("state", {}).get(BROWSER_OWNER_KEY, "")
    return owner if isinstance(owner, str) else ""


UNBOUND_SESSION = "refused_unbound_session"


def bound_to_this_browser(request: gr.Request) -> bool:
    """Was this event's session hash bound to the browser cookie (web/boundary.py)?"""
    scope = request.request.scope if request.request is not None else {}
    return bool(scope.get("state", {}).get(BOUND_STATE_KEY))


def forget_stored_value(blocks: gr.Blocks, request: gr.Request, component: gr.components.Component) -> None:
    """Blank Gradio's per-session copies of an input's value. Gradio keeps every input of every event
    (for deep links, and until 10,000 newer sessions push it out); a typed key must not stay there.

    Once an event has updated the component, Gradio keeps a replacement instance with an id of its
    own and stores later inputs under that id, so copies are found by elem_id as well.
    """
    holder = blocks.state_holder
    if not request.session_hash or request.session_hash not in holder:
        return
    for block_id, config in holder[request.session_hash].config_values.items():
        props = config.get("props") if isinstance(config, dict) else None
        if isinstance(props, dict) and (block_id == component._id or props.get("elem_id") == component.elem_id):
            props["value"] = ""


def from_page(request: gr.Request) -> bool:
    # Gradio's own page sends this header. Spoofing it only changes the wording of messages.
    return request.headers.get("x-gradio-user") == "app"


def oauth_info(request: gr.Request) -> dict[str, Any] | None:
    # Present only when Hugging Face login is on (Gradio then installs its session middleware).
    try:
        info = request.request.session.get("oauth_info") if request.request is not None else None
    except AssertionError:
        return None
    if not isinstance(info, dict):
        return None
    # A login lasts as long as the Space's hf_oauth_expiration_minutes; Gradio's own check drops
    # an expired one too.
    expires_at = info.get("expires_at")
    if isinstance(expires_at, int | float) and expires_at < time.time():
        return None
    return info
