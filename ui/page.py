"""The whole page, and how it is served: the Blocks, and the launch options that put the browser
boundary and the access gate in front of every route."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from config.keys import SessionKeys
from config.network import TrustedProxies, normalise_origin
from config.settings import Settings
from conversation.service import ChatService
from conversation.transcript import MAX_IMPORT_BYTES, MAX_IMPORT_MESSAGES
from ui import chat_view
from ui.chat import build_chat
from ui.handlers import PageHandlers
from ui.language import PAGE_I18N
from ui.login import hf_login_button, wire_login_button
from ui.model_lists import wire_model_lists
from ui.queue_door import guard_queue
from ui.sidebar import build_sidebar
from ui.style import PAGE_CSS
from ui.transcripts import wire_transcripts
from ui.wiring import wire_key_check, wire_key_events, wire_page_events
from web.access import GateMiddleware
from web.bindings import SessionBindings
from web.bodies import body_limits
from web.boundary import BoundaryMiddleware, BoundaryPolicy
from web.hflogin import LoginPlan, login_plan
from web.sessions import SessionGuard
from web.signin import SignInCustody


def build_demo(service: ChatService, login: LoginPlan | None = None) -> gr.Blocks:
    settings = service.settings
    login = login or login_plan(settings, os.environ)
    # Only on a Space: elsewhere Gradio would log everyone in as the owner of HF_TOKEN.
    login_button = hf_login_button() if login.button else None
    handlers = PageHandlers(service)
    # Uploads are deleted when their session ends; delete_cache (hourly, files older than a day)
    # is the backstop for files attached and never sent, and for sessions that never ended cleanly.
    with gr.Blocks(
        title="byok-chat", analytics_enabled=settings.analytics, fill_height=True, delete_cache=(3600, 86_400)
    ) as demo:
        keys = gr.State(SessionKeys(), delete_callback=lambda held: held.clear())
        sidebar = build_sidebar(handlers, login_button)
        if login_button is not None:
            wire_login_button(login_button, demo, handlers.sign_in_held)
        chat_ui = build_chat(handlers, sidebar, keys)
        # The provider and model of a saved chat being opened, for the provider switch it causes.
        restored = gr.State(None)
        key_events = wire_key_events(demo, handlers, sidebar, chat_ui, keys, restored)
        wire_page_events(demo, handlers, sidebar, chat_ui, keys)
        wire_model_lists(demo, handlers, sidebar, keys, key_events)
        wire_key_check(handlers, sidebar, keys, key_events)
        wire_transcripts(sidebar, chat_ui, restored, settings)
    # api_open=False: a chat never skips the queue through /gradio_api/run/ (Gradio opens that road
    # everywhere but on a Space), so CONCURRENCY_LIMIT, QUEUE_MAX_SIZE and the queue's door hold.
    demo.queue(max_size=settings.queue_max_size, default_concurrency_limit=settings.concurrency_limit, api_open=False)
    guard_queue(demo, chat_ui, handlers)
    return demo


def boundary_policy(settings: Settings) -> BoundaryPolicy:
    return BoundaryPolicy(
        trusted=TrustedProxies(settings.trusted_proxies),
        allowed_origins=settings.allowed_origins,
        frame_ancestors=settings.frame_ancestors,
        space_host=settings.space_host,
        uploads=settings.max_files_per_message > 0,
        allowed_hosts=settings.allowed_hosts,
    )


def launch_options(service: ChatService, login: LoginPlan | None = None) -> dict[str, Any]:
    policy = boundary_policy(service.settings)
    login = login or login_plan(service.settings, os.environ)
    allow_cross_origin_only_for(policy)
    settings = service.settings
    # Outermost first: origins before the gate; bodies, files and session binding only behind it.
    middleware = [Middleware(BoundaryMiddleware, policy=policy)]
    if login.button:
        # Gradio's login cookie must carry no token (web/signin.py); the boundary names the browser.
        middleware.append(Middleware(SignInCustody, tokens=service.sign_ins))
    if service.gate is not None:
        middleware.append(Middleware(GateMiddleware, gate=service.gate, cookie_attributes=policy.cookie_attributes))
    middleware.append(
        Middleware(
            SessionGuard,
            # The service's own instance: it warns once about ignored X-Forwarded-For values.
            trusted=service.trusted,
            bindings=SessionBindings(),
            uploads=service.uploads.ledger,
            limits=body_limits(
                max_message_chars=settings.max_message_chars,
                max_history_chars=settings.max_history_chars,
                max_import_bytes=MAX_IMPORT_BYTES,
                max_import_messages=MAX_IMPORT_MESSAGES,
            ),
            max_upload_request_bytes=int(settings.max_upload_mb * 1_000_000) * settings.max_files_per_message
            + 1_000_000,
            max_files_per_request=settings.max_files_per_message,
            count_upload=service.quotas.admit_upload,
            # ChatInterface's "New chat" button (and other built-in buttons) show icons from here.
            public_dirs=(os.path.normpath(str(Path(gr.__file__).parent / "icons")),),
        )
    )
    return {
        "run_history": False,
        "show_error": False,
        # Gradio runs at most max_threads jobs at once, async ones and page events included: room
        # for every chat CONCURRENCY_LIMIT allows, and for newcomers' page events beside them.
        "max_threads": service.settings.concurrency_limit + 40,
        # Server-side rendering would fetch the page from behind the access gate.
        "ssr_mode": False,
        # Gradio refuses a bigger file while it is being received (413) and the page says so.
        "max_file_size": int(service.settings.max_upload_mb * 1_000_000),
        "app_kwargs": {"middleware": middleware},
        "css": PAGE_CSS + chat_view.CSS,
        # The page's static text in the browser's language (ui/language.py).
        "i18n": PAGE_I18N,
    }


def allow_cross_origin_only_for(policy: BoundaryPolicy) -> None:
    """Gradio's CORS layer answers any Origin with credentials on a non-loopback host, preflights
    included, in front of our middleware. Only the operator's ALLOWED_ORIGINS get CORS headers."""
    from gradio.route_utils import CustomCORSMiddleware

    def is_valid_origin(self: CustomCORSMiddleware, request_headers: Any) -> bool:
        origin = normalise_origin(request_headers.get("origin", ""))
        return origin is not None and origin in policy.allowed_origins

    CustomCORSMiddleware.is_valid_origin = is_valid_origin  # type: ignore[method-assign]
