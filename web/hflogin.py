"""Hugging Face login: where it works and what it needs.

Two things use it. The allow list (``ALLOWED_HF_USERS`` / ``ALLOWED_HF_ORGS``) lets signed-in users
chat on the server keys. And on a Space whose login grants the ``inference-api`` scope (front matter
``hf_oauth: true`` and ``hf_oauth_scopes: [inference-api]``; the Space puts the granted scopes in
``OAUTH_SCOPES``), a visitor who signs in chats on Hugging Face Inference Providers on their own
account (web/signin.py keeps the token).

Gradio's login button runs the real OpenID flow only on a Space (``SYSTEM=spaces`` and
``SPACE_ID`` set, with the ``OAUTH_*`` variables a Space gets from ``hf_oauth: true``). Anywhere
else Gradio "logs in" everybody as the owner of the machine's Hugging Face token (``HF_TOKEN``, which
is also this app's server key for the ``hf`` provider) and sends that token to the Hub's whoami.
byok-chat never lets that happen: off a Space there is no login button and no login routes, nobody
is on the allow list, and every visitor brings their own key.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.keys import HUB_ROW
from config.settings import Settings
from errors import ConfigError
from providers.registry import PROVIDERS

from .signin import grants_inference

__all__ = ["LoginPlan", "hf_org_list", "hf_orgs", "hf_username", "login_plan", "offers_hub_sign_in", "on_space"]

# A Hub handle, as it may go into a header: letters, digits, '-', '_' and '.'.
_HANDLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
# What a Space with `hf_oauth: true` in its README sets; Gradio reads these at import time.
SPACE_OAUTH_VARIABLES = ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES", "OPENID_PROVIDER_URL")


def on_space(environ: Mapping[str, str]) -> bool:
    """The same test Gradio uses (``gradio.utils.get_space``) to pick real OAuth over its mock."""
    return environ.get("SYSTEM") == "spaces" and bool(environ.get("SPACE_ID"))


@dataclass(frozen=True, slots=True)
class LoginPlan:
    wanted: bool  # the operator set an allow list
    button: bool  # show Gradio's login button (and with it, its login routes)
    note: str  # one line for the start-up log and `--check`
    # Visitors sign in to chat on Hugging Face Inference Providers on their own account.
    hub_sign_in: bool = False


def offers_hub_sign_in(environ: Mapping[str, str]) -> bool:
    """On a Space whose login grants the inference-api scope: no other setting."""
    return on_space(environ) and grants_inference(environ.get("OAUTH_SCOPES"))


def login_plan(settings: Settings, environ: Mapping[str, str]) -> LoginPlan:
    """Decide how login runs here, or raise ConfigError when a Space is missing what login needs."""
    allow_list = bool(settings.allowed_hf_users or settings.allowed_hf_orgs)
    pays = offers_hub_sign_in(environ)
    if not allow_list and not pays:
        return LoginPlan(wanted=False, button=False, note="Hugging Face login: off")
    if not on_space(environ):
        return LoginPlan(
            wanted=True,
            button=False,
            note=(
                "Hugging Face login: not available here, only on a Space (SYSTEM=spaces and SPACE_ID set). "
                "Nobody can log in, so no visitor may use the server keys: everyone brings their own key. "
                "For a gate off Spaces, set ACCESS_CODE."
            ),
        )
    missing = [name for name in SPACE_OAUTH_VARIABLES if not environ.get(name)]
    if missing:
        needs = (
            "ALLOWED_HF_USERS / ALLOWED_HF_ORGS need" if allow_list else "Signing in to chat on one's own account needs"
        )
        raise ConfigError(
            f"{needs} Hugging Face login, but {', '.join(missing)} "
            f"is not set. Add `hf_oauth: true` to the README front matter of the Space."
        )
    absent = [name for name in ("authlib", "itsdangerous") if importlib.util.find_spec(name) is None]
    if absent:
        raise ConfigError(
            f"Hugging Face login needs {', '.join(absent)}: install gradio with its OAuth extra, "
            f"`gradio[oauth]`, as requirements.txt does."
        )
    who = ", ".join(
        part
        for part in (
            f"users {', '.join(sorted(settings.allowed_hf_users))}" if settings.allowed_hf_users else "",
            f"members of {', '.join(sorted(settings.allowed_hf_orgs))}" if settings.allowed_hf_orgs else "",
        )
        if part
    )
    uses = [
        *([f"server keys for {who}"] if allow_list else []),
        *(["visitors who sign in chat on Hugging Face Inference Providers on their own account"] if pays else []),
        *([_elsewhere(settings)] if pays and _elsewhere(settings) else []),
    ]
    return LoginPlan(
        wanted=allow_list,
        button=True,
        note=f"Hugging Face login: on (provider {environ['OPENID_PROVIDER_URL']}); {'; '.join(uses)}",
        hub_sign_in=pays,
    )


def _elsewhere(settings: Settings) -> str:
    """Where visitors' tokens go when the operator has moved the hf row off Hugging Face's router."""
    row = settings.provider(HUB_ROW)
    default = next((p.base_url for p in PROVIDERS if p.id == HUB_ROW), "")
    if row is None or row.base_url.rstrip("/") == default.rstrip("/"):
        return ""
    return f"note: their tokens go to {row.base_url} (HF_BASE_URL), not to Hugging Face's router"


# --- what a login says about the visitor ---


def _userinfo(oauth_info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    info = (oauth_info or {}).get("userinfo")
    return info if isinstance(info, Mapping) else {}


def hf_username(oauth_info: Mapping[str, Any] | None) -> str | None:
    name = _userinfo(oauth_info).get("preferred_username")
    return name.lower() if isinstance(name, str) and name else None


def hf_org_list(oauth_info: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """The visitor's organisations as (handle, display name), handles in the shape the Hub allows."""
    orgs = _userinfo(oauth_info).get("orgs")
    if not isinstance(orgs, list):
        return ()
    listed = []
    for org in orgs:
        handle = org.get("preferred_username") if isinstance(org, Mapping) else None
        if isinstance(handle, str) and _HANDLE.fullmatch(handle):
            name = org.get("name")
            listed.append((handle, name if isinstance(name, str) and name else handle))
    return tuple(listed)


def hf_orgs(oauth_info: Mapping[str, Any] | None) -> set[str]:
    # The Hub's OpenID userinfo lists the user's organisations under "orgs", each with
    # "preferred_username" (the organisation's handle, as in huggingface.co/<handle>) and "name" (its
    # display name): https://huggingface.co/docs/huggingface.js/hub/interfaces/UserInfo
    # Only the handle counts: anyone can give their own organisation the display name "acme".
    orgs = _userinfo(oauth_info).get("orgs")
    if not isinstance(orgs, list):
        return set()
    names = (org.get("preferred_username") for org in orgs if isinstance(org, Mapping))
    return {name.lower() for name in names if isinstance(name, str) and name}
