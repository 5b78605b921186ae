"""Configuration, on the ground floor: the environment and ``.env`` read once into a frozen
:class:`Settings`, and the plain value types it is made of (``secret``, ``network``, ``storage``).
Also here: which key a request uses (``keys``) and the log filter that masks every live key
(``redact``). Nothing this package imports imports it back.
"""

from .keys import SessionKeys, parse_visitor_key, resolve_key
from .redact import MASK, RedactingFilter, install_redaction, redact
from .secret import Secret
from .settings import Settings, load_settings

__all__ = [
    "MASK",
    "RedactingFilter",
    "Secret",
    "SessionKeys",
    "Settings",
    "install_redaction",
    "load_settings",
    "parse_visitor_key",
    "redact",
    "resolve_key",
]
