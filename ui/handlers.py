"""The page's event handlers and the texts they show."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import gradio as gr

from config.keys import HUB_ROW, HubSignIn, SessionKeys, parse_visitor_key
from conversation.request import ChatInputs
from conversation.service import Caller, ChatService
from conversation.text import MARKS, cut_off_mark, stopped_mark
from errors import ByokError, InputRejected, ReplyCutOff
from providers import VISITOR_ENDPOINT, Provider, Reply, parse_effort
from ui import chat_view
from ui.browser import UNBOUND_SESSION, bound_to_this_browser, browser_owner, from_page, oauth_info
from ui.chat_view import link_remote_media
from ui.language import language_of
from ui.style import ERROR_MARKER, KEY_SET_MARK
from web.access import ACCESS_STATE_KEY
from web.asgi import peer_and_headers
from web.quota import describe_limits
from web.spend import window_rate
from words import ENGLISH, Phrase, say

# API callers bring their own key in this header, never in event data: event inputs are kept in
# Gradio's per-session memory and deep-link snapshots.
KEY_HEADER = "x-provider-key"
# ...and may pick a reasoning effort with this one (the page uses the settings dropdown).
EFFORT_HEADER = "x-reasoning-effort"
KEY_PLACEHOLDER = "page_key_placeholder"
KEY_SET_PLACEHOLDER = "page_key_set_placeholder"
# The "Bill to" choice for the visitor's own account; no Hub handle can contain "@".
OWN_ACCOUNT = "@self"


def attachment_notice(note: Phrase, language: str = ENGLISH) -> None:
    """Tell the visitor what happened to an attachment (a text file cut to fit the message)."""
    gr.Info(note.in_language(language), title=say(language, "title_attachment"))


def error_bubble(error: ByokError, language: str = ENGLISH) -> gr.ChatMessage:
    """A failed chat in the page: one titled bubble, styled as an error by PAGE_CSS. Titled
    messages are UI only: they and the message they answer never go upstream again. No "status":
    Gradio folds a thought whose status is "done", which would hide the message. The empty span
    lets PAGE_CSS take the reply bubble away around it (an error is not a reply)."""
    # Under the error: the failed message stays on screen but is not sent again by itself.
    content = f"{error.text(language)}\n\n*{say(language, 'left_out')}*{ERROR_MARKER}"
    return gr.ChatMessage(role="assistant", content=content, metadata={"title": f"⚠ {error.title_in(language)}"})


def mark_stopped(history: list[dict[str, Any]], language: str = ENGLISH) -> list[dict[str, Any]]:
    """Mark the reply the visitor stopped, so it does not look complete."""
    if not history or history[-1].get("role") != "assistant":
        return history
    last = history[-1]
    if (last.get("metadata") or {}).get("title"):
        return settle_thinking(history, language)  # an error bubble stays as it is
    parts = last.get("content")
    text = parts if isinstance(parts, str) else "".join(p.get("text", "") for p in parts if isinstance(p, dict))
    if text.endswith(tuple(mark.lstrip() for mark in MARKS)):
        return history
    return [*history[:-1], {"role": "assistant", "content": text + stopped_mark(language)}]


def sign_in_status(sign_in: HubSignIn, *, on_server_key: bool = False, language: str = ENGLISH) -> str:
    """Whose account pays on the Hugging Face row, where a Space offers sign-in."""
    if sign_in.token is not None:
        who = sign_in.username
        org = dict(sign_in.orgs).get(sign_in.bill_to or "")
        if org is not None:
            return say(language, "status_signed_in_org", who=who, org=org, handle=sign_in.bill_to)
        return say(language, "status_signed_in", who=who)
    if sign_in.ended:
        return f"⚠ {say(language, 'status_sign_in_ended')}"
    return say(language, "status_sign_in_or_server_key" if on_server_key else "status_sign_in")


def settle_thinking(history: list[dict[str, Any]], language: str = ENGLISH) -> list[dict[str, Any]]:
    """A reply that ended while its model still thought (Stop): the thinking becomes done, which
    makes Gradio fold it and drop its spinner, and the stopped mark follows it. A reply that ended
    on its own never ends mid-thought, so nothing else is touched."""
    if not history or history[-1].get("role") != "assistant":
        return history
    last = history[-1]
    metadata = last.get("metadata") or {}
    if not metadata.get("title") or metadata.get("status") != "pending":
        return history
    settled = {**last, "metadata": {**metadata, "status": "done", "duration": metadata.get("duration") or 0.1}}
    return [*history[:-1], settled, {"role": "assistant", "content": stopped_mark(language).lstrip()}]


class PageHandlers:
    """The page's event handlers and the texts they show. Every handler builds its Caller from the
    HTTP request, so nothing the browser sends names a client or unlocks a server key."""

    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.settings = service.settings
        first = self.settings.provider(self.settings.default_provider)
        assert first is not None
        self.first = first
        self.efforts = chat_view.SessionChoices(parse_effort)
        self.temperatures = chat_view.SessionChoices(chat_view.temperature_mode)

    def provider(self, provider_id: object) -> Provider:
        return self.settings.provider(provider_id) or self.first

    def caller(self, request: gr.Request, visitor_key: Any = None) -> Caller:
        scope = request.request.scope if request.request is not None else {}
        peer, headers = peer_and_headers(scope)
        return self.service.caller(
            peer=peer,
            headers=headers,
            gate_passed=bool(scope.get("state", {}).get(ACCESS_STATE_KEY)),
            oauth_info=oauth_info(request),
            visitor_key=visitor_key,
            browser=browser_owner(request),
            bound=bound_to_this_browser(request),
            session_hash=request.session_hash,
        )

    def sign_in_held(self, request: gr.Request) -> bool | None:
        """Is this browser's Hugging Face sign-in token on the server? None where sign-in pays for nothing."""
        sign_in = self.caller(request).sign_in
        return None if sign_in is None else sign_in.token is not None

    def chat_caller(self, request: gr.Request, keys: SessionKeys, provider_id: object, base_url: object) -> Caller:
        endpoint = base_url if isinstance(base_url, str) and provider_id == VISITOR_ENDPOINT.id else ""
        visitor_key = keys.get(str(provider_id), endpoint=endpoint) if isinstance(keys, SessionKeys) else None
        if visitor_key is None:
            visitor_key = parse_visitor_key(request.headers.get(KEY_HEADER, ""))
        return self.caller(request, visitor_key)

    async def chat(
        self,
        message: str | dict[str, Any],
        history: list[dict[str, Any]],
        provider_id: str,
        model: str,
        system_prompt: str,
        temperature: float | None,
        max_tokens: float,
        keys: SessionKeys,
        request: gr.Request,
        base_url: str = "",
    ) -> AsyncIterator[str | gr.ChatMessage | list[gr.ChatMessage]]:
        last: Reply | None = None
        started = time.monotonic()
        language = language_of(request)
        try:
            inputs = ChatInputs(
                message=message,
                history=history,
                provider_id=provider_id,
                model=model,
                system_prompt=system_prompt,
                temperature=self.chosen_temperature(temperature, request),
                max_tokens=max_tokens,
                base_url=base_url,
                effort=self.efforts.get(request.session_hash, request.headers.get(EFFORT_HEADER)),
                files=self.service.session_files(
                    request.session_hash, browser_owner(request), bound=bound_to_this_browser(request)
                ),
            )
            in_page = from_page(request)
            caller = self.chat_caller(request, keys, provider_id, base_url)
            shown = ""
            replies = self.service.reply(caller, inputs, notify=lambda note: attachment_notice(note, language))
            # Closed with this handler: a closed tab must end the reply (and count it) now.
            async with aclosing(replies):
                async for reply in replies:
                    last = reply
                    if in_page:
                        # The page's CSP already stops a remote image from loading; as a link the
                        # visitor still sees where it pointed.
                        yield chat_view.page_messages(
                            reply,
                            link_remote_media,
                            time.monotonic() - started,
                            model,
                            provider_id=provider_id,
                            language=language,
                        )
                    elif reply.text != shown:
                        # API callers get the answer text, as before: no thinking, no numbers line.
                        shown = reply.text
                        yield link_remote_media(shown)
        except ByokError as error:
            if isinstance(error, ReplyCutOff) and error.partial:
                # In the page the mark is the one signal; a script also gets it as a warning.
                if not from_page(request):
                    gr.Warning(error.text(language), title=error.title_in(language))
                thinking = link_remote_media(last.reasoning) if from_page(request) and last is not None else ""
                seconds = last.thinking_seconds if last is not None else None
                yield chat_view.cut_off_messages(
                    thinking, seconds, link_remote_media(error.partial), cut_off_mark(error, language), language
                )
            elif from_page(request):
                # In the page, an exception would leave ChatInterface's textbox disabled (Gradio
                # runs none of its follow-up steps after an error): show the error and go on.
                yield error_bubble(error, language)
            else:
                raise gr.Error(
                    error.script_text(language), title=error.title_in(language), print_exception=False
                ) from None

    def key_status(
        self,
        provider: Provider,
        keys: SessionKeys,
        box_shown: bool,
        sign_in: HubSignIn | None = None,
        on_server_key: bool = False,
        language: str = ENGLISH,
    ) -> str:
        label = provider.label
        if provider.id in keys:
            # The mark tells the page's script (wiring.BLANK_KEY_BOX) a key is set, in any language.
            return say(language, "status_key_set", provider=label) + KEY_SET_MARK
        if sign_in is not None and provider.id == HUB_ROW:
            return sign_in_status(sign_in, on_server_key=on_server_key, language=language)
        if not provider.needs_key:
            return say(language, "status_no_key_needed", provider=label)
        if not box_shown:
            return say(language, "status_server_key", provider=label)
        if self.settings.server_key(provider.id) is not None:
            # The box shows only because this visitor may not use the server's key: say why.
            return self.service.admission.server_key_refusal(provider)[0].in_language(language)
        return say(language, "status_enter_key", provider=label)

    def empty_chat_text(
        self,
        provider: Provider,
        keys: SessionKeys,
        box_shown: bool,
        sign_in: HubSignIn | None = None,
        on_server_key: bool = False,
        language: str = ENGLISH,
    ) -> str:
        """What an empty chat says: the mode this visitor is in, and the first thing to do."""
        label = provider.label
        if provider.id in keys:
            return say(language, "empty_own_key", provider=label)
        if sign_in is not None and provider.id == HUB_ROW:
            if sign_in.token is not None:
                org = dict(sign_in.orgs).get(sign_in.bill_to or "")
                if org is not None:
                    return say(language, "empty_billed_to_org", provider=label, org=org)
                return say(language, "empty_billed_to_user", provider=label, who=sign_in.username)
            if on_server_key:
                return say(language, "empty_hub_server_key", provider=label)
            return say(language, "empty_hub_own_account", provider=label)
        if not provider.needs_key:
            return say(language, "empty_no_key_needed", provider=label)
        if not box_shown:
            return say(language, "empty_server_key", provider=label)
        return say(language, "empty_needs_key", provider=label)

    def provider_view(
        self, provider: Provider, keys: SessionKeys, request: gr.Request
    ) -> tuple[dict[str, Any], str, dict[str, Any], dict[str, Any]]:
        """The key box, key status, Forget button and empty-chat text for one provider."""
        caller = self.caller(request)
        language = language_of(request)
        shown = self.key_box_shown(provider, caller)
        on_server = self.service.on_server_key(provider, caller)
        key_set = provider.id in keys
        box = gr.update(
            visible=shown,
            value="",
            label=say(language, "key_box_label", provider=provider.label),
            placeholder=say(language, KEY_SET_PLACEHOLDER if key_set else KEY_PLACEHOLDER),
        )
        empty = self.empty_chat_text(provider, keys, shown, caller.sign_in, on_server, language)
        return (
            box,
            self.key_status(provider, keys, shown, caller.sign_in, on_server, language),
            gr.update(visible=key_set),
            gr.update(placeholder=empty),
        )

    def usage_text(self, request: gr.Request) -> str:
        client = self.caller(request).client
        language = language_of(request)
        usage = self.service.usage_today(client)
        if not usage.available:
            return say(language, "usage_unknown")
        if usage.token_limit:
            tokens = say(language, "usage_tokens_of", count=f"{usage.tokens:,}", limit=f"{usage.token_limit:,}")
        else:
            tokens = say(language, "usage_token" if usage.tokens == 1 else "usage_tokens", count=f"{usage.tokens:,}")
        chats = say(language, "usage_chat" if usage.requests == 1 else "usage_chats", count=f"{usage.requests:,}")
        cost = f" ({chat_view.dollars(usage.dollars)})" if usage.dollars else ""
        line = say(language, "usage_today", chats=chats, tokens=tokens, cost=cost)
        if self.settings.server_keys:
            limits = say(language, "list_separator").join(
                filter(None, (describe_limits(self.service.quotas, language), *self._spend_limits(client, language)))
            )
            line += say(language, "usage_limits", limits=limits) if limits else say(language, "usage_no_limits")
        return line

    def _spend_limits(self, client: str, language: str) -> list[str]:
        """Each spend limit with what is spent against it so far: "$0.04 of $0.25 today for you"."""
        spend = self.service.spend
        if not spend.limited:
            return []
        spent = self.service.spent_today(client)
        if spent is None:
            return spend.limits(language)
        mine = (
            [say(language, "spent_mine", spent=chat_view.dollars(spent.client), limit=f"${spent.client_limit:,.2f}")]
            if spent.client_limit
            else []
        )
        return mine + [
            say(language, "spent_everyone", spent=chat_view.dollars(used), limit=window_rate(window))
            for window, used in spent.everyone
        ]

    def capture_key(
        self, provider_id: str, keys: SessionKeys, endpoint: str, raw: str, request: gr.Request
    ) -> tuple[str, dict[str, Any], dict[str, Any], SessionKeys]:
        """Keep a typed key in this session's state. The key box is not an output (see
        wire_key_events): the page blanks it, and the key status says what happened."""
        provider = self.provider(provider_id)
        try:
            key = parse_visitor_key(raw)
        except InputRejected as rejected:
            # Said under the box, where the visitor is looking, rather than in a toast.
            return self.refused_key_view(provider, keys, request, rejected.text(language_of(request)))
        if key is None:
            # An empty box (the blur after the page blanked it, or Check with nothing typed)
            # changes nothing: redrawing the view here could land after "Forget my key" and
            # show a forgotten key as set.
            return gr.skip(), gr.skip(), gr.skip(), keys
        if not bound_to_this_browser(request):
            # Only a session tied to this browser's cookie may hold a key: a session hash alone
            # must never open one. Scripts send X-Provider-Key with each call instead.
            return self.refused_key_view(provider, keys, request, say(language_of(request), UNBOUND_SESSION))
        if provider.needs_key and isinstance(keys, SessionKeys):
            keys.set(provider.id, key, endpoint=endpoint if provider.id == VISITOR_ENDPOINT.id else "")
        _, status, forget, chat = self.provider_view(provider, keys, request)
        # Returning the state registers it with Gradio's state holder, which is what lets
        # end_session delete it (and run its delete_callback).
        return status, forget, chat, keys

    def refused_key_view(
        self, provider: Provider, keys: SessionKeys, request: gr.Request, why: str
    ) -> tuple[str, dict[str, Any], dict[str, Any], SessionKeys]:
        _, _, forget, chat = self.provider_view(provider, keys, request)
        return f"⚠ {why}", forget, chat, keys

    def forget_key(
        self, provider_id: str, keys: SessionKeys, request: gr.Request
    ) -> tuple[dict[str, Any], str, dict[str, Any], dict[str, Any]]:
        provider = self.provider(provider_id)
        keys.forget(provider.id)
        return self.provider_view(provider, keys, request)

    def switch_provider(
        self, provider_id: str, keys: SessionKeys, restored: object, request: gr.Request
    ) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, Any], dict[str, Any], None]:
        """The provider changed: its models, its key box. ``restored`` is the (provider, model) of
        a saved chat just opened: that model, not the provider's first, and only this once."""
        provider = self.provider(provider_id)
        # The operator's list on a restricted server key; the live list follows (ModelListEvents),
        # and it too replaces a model the operator's list leaves out, a restored one included.
        shown = self.service.shown_models(provider, self.chat_caller(request, keys, provider.id, ""))
        wanted = restored[1] if isinstance(restored, tuple) and restored[0] == provider.id else None
        model = gr.update(choices=list(shown), value=wanted or self.settings.initial_model(provider))
        return (model, *self.provider_view(provider, keys, request), None)

    def check_button(self, provider_id: str, request: gr.Request) -> dict[str, Any]:
        """ "Check my key" is shown with the key box."""
        return gr.update(visible=self.key_box_shown(self.provider(provider_id), self.caller(request)))

    def bill_to_view(self, provider_id: str, request: gr.Request) -> dict[str, Any]:
        """ "Bill to": on the Hugging Face row, for a signed-in visitor who belongs to organisations."""
        sign_in = self.caller(request).sign_in
        if sign_in is None or sign_in.token is None or not sign_in.orgs or self.provider(provider_id).id != HUB_ROW:
            return gr.update(visible=False)
        own = (say(language_of(request), "bill_to_own_account", who=sign_in.username), OWN_ACCOUNT)
        choices = [own, *((f"{name} ({handle})", handle) for handle, name in sign_in.orgs)]
        return gr.update(visible=True, choices=choices, value=sign_in.bill_to or OWN_ACCOUNT)

    def choose_bill_to(self, provider_id: str, org: str, keys: SessionKeys, request: gr.Request) -> str:
        """Keep the visitor's choice with their sign-in; the key status says who pays now."""
        try:
            self.service.choose_bill_to(self.caller(request), None if org == OWN_ACCOUNT else org)
        except InputRejected as refused:
            return f"⚠ {refused.text(language_of(request))}"
        provider = self.provider(provider_id)
        held = keys if isinstance(keys, SessionKeys) else SessionKeys()
        return self.key_status(provider, held, True, self.caller(request).sign_in, language=language_of(request))

    def key_box_shown(self, provider: Provider, caller: Caller) -> bool:
        if caller.sign_in is not None and provider.id == HUB_ROW:
            # A pasted token still wins over the sign-in, as a typed key wins over a server key.
            return True
        return self.service.key_box_needed(provider, may_use_server_keys=caller.may_use_server_keys)

    def effort_view(self, provider_id: str, model: str) -> dict[str, Any]:
        # Shown only where this provider and model take an effort; hidden, it is never sent.
        return gr.update(visible=chat_view.effort_shown(self.provider(provider_id), model))

    def chosen_temperature(self, temperature: object, request: gr.Request) -> object:
        """The page's slider always has a value; it is sent only once the visitor unticked
        "provider's default". An API caller's temperature is its own (null: the provider's)."""
        if from_page(request) and self.temperatures.get(request.session_hash) != "chosen":
            return None
        return temperature

    def temperature_view(
        self, provider_id: str, model: str, effort: str, provider_default: bool, request: gr.Request
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The "provider's default" box and the slider, for this model and effort. A model that
        takes no temperature gets none: the box is ticked and both grey out."""
        view = chat_view.temperature_view(self.provider(provider_id), model, effort)
        info = view.info.in_language(language_of(request))
        if not view.choosable:
            return gr.update(value=True, interactive=False, info=info), gr.update(interactive=False)
        box = gr.update(interactive=True, info=info)
        return box, gr.update(interactive=provider_default is False)

    def remember_temperature_mode(self, provider_default: bool, request: gr.Request) -> None:
        self.temperatures.set(request.session_hash, provider_default)

    def remember_effort(self, effort: str, request: gr.Request) -> None:
        # Kept per session beside the chat event, not as one of its inputs: the public endpoint
        # keeps its shape.
        self.efforts.set(request.session_hash, effort)

    def on_load(
        self, provider_id: str, keys: SessionKeys, request: gr.Request
    ) -> tuple[dict[str, Any], str, dict[str, Any], dict[str, Any], str]:
        return (*self.provider_view(self.provider(provider_id), keys, request), self.usage_text(request))
