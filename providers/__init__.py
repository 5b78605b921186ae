"""byok-chat's provider layer: which provider, which key, one streaming adapter, safe errors.

A key's path, one module each: ``keys`` (capture and resolve), ``chat`` (use, on one request),
``errors`` (fail with fixed messages), ``redact`` (mask whatever slips into output).
"""

from .chat import ChatStream, Reply, ReplyStats, Usage, close_pools
from .classify import Diagnosis, classify, error_for
from .conversation import (
    CUT_OFF_MARK,
    REPLY_STATS_CLASS,
    STOPPED_MARK,
    ChatInputs,
    ChatRequest,
    build_request,
    clean_text,
)
from .errors import (
    AccessDenied,
    ByokError,
    CannotConnect,
    ConfigError,
    ContextTooLong,
    EmptyReply,
    InputRejected,
    InvalidKey,
    KeyRequired,
    NoModelAccess,
    OutOfCredit,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
    ReplyCutOff,
    RequestRefused,
    UnknownModel,
)
from .keys import Secret, SessionKeys, parse_visitor_key, resolve_key
from .reasoning import EFFORTS, ReasoningControl, effort_options, parse_effort
from .redact import MASK, RedactingFilter, install_redaction, redact
from .registry import CUSTOM_ID, PROVIDERS, VISITOR_ENDPOINT, Provider
from .settings import Settings, load_settings

__all__ = [
    "CUSTOM_ID",
    "CUT_OFF_MARK",
    "EFFORTS",
    "MASK",
    "PROVIDERS",
    "REPLY_STATS_CLASS",
    "STOPPED_MARK",
    "VISITOR_ENDPOINT",
    "AccessDenied",
    "ByokError",
    "CannotConnect",
    "ChatInputs",
    "ChatRequest",
    "ChatStream",
    "ConfigError",
    "ContextTooLong",
    "Diagnosis",
    "EmptyReply",
    "InputRejected",
    "InvalidKey",
    "KeyRequired",
    "NoModelAccess",
    "OutOfCredit",
    "Provider",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "QuotaExceeded",
    "RateLimited",
    "ReasoningControl",
    "RedactingFilter",
    "Reply",
    "ReplyCutOff",
    "ReplyStats",
    "RequestRefused",
    "Secret",
    "SessionKeys",
    "Settings",
    "UnknownModel",
    "Usage",
    "build_request",
    "classify",
    "clean_text",
    "close_pools",
    "effort_options",
    "error_for",
    "install_redaction",
    "load_settings",
    "parse_effort",
    "parse_visitor_key",
    "redact",
    "resolve_key",
]
