"""Every error byok-chat raises, in one place.

The tree::

    ByokError                   str(error) is the fixed text a user may see
    ├── ConfigError             bad operator configuration, found at start-up
    ├── InputRejected           a request we refuse before contacting a provider
    │   ├── ModelNotAllowed     a model the operator's <ID>_MODELS leaves out, on the server key
    │   └── ModelNotPriced      a model without a known price, on a server key with a spend limit
    ├── TooManyChecks           key checks and model-list fetches per client, throttled
    ├── TooManyChats            this client has MAX_CHATS_PER_CLIENT chats running
    ├── TooManyUploads          this client uploaded its UPLOAD_LIMIT_MB for now
    ├── AccessDenied            the access gate or the Hugging Face allow-list said no
    ├── QuotaExceeded           this client used up its requests or tokens on a server key
    │   └── SpendLimitReached   a spend limit in dollars (this client's, or everyone's) is reached
    ├── CounterUnavailable      the counter store is down, so server keys cannot be metered
    ├── KeyRequired             no key for this provider: ask the visitor for one
    │   └── SignInNeeded        the Hugging Face row on a Space that pays with the visitor's sign-in
    └── ProviderError           the provider failed; never carries the provider's own text
        ├── InvalidKey          the key is wrong (401 / 403, or a 400 that says so, as Gemini's does)
        │   └── ServerKeyRejected   ...and it was the operator's key: only the operator can fix it
        ├── NoModelAccess       the key is fine but may not use this model
        ├── UnknownModel        no such model (404, or a gateway's 400)
        ├── OutOfCredit         no credit or balance left (402, insufficient_quota)
        │   └── NoHubCredits    the same, on a visitor's Hugging Face sign-in
        ├── OrgBillingRefused   the router would not bill the organisation the visitor picked
        ├── RateLimited         429, with retry_after when known
        ├── ContextTooLong      the conversation does not fit the model's context
        ├── RequestRefused      a setting the model refuses (named when known), other 4xx
        ├── ImagesNotAccepted   a model that takes no images (its docs, or a refused request with images)
        ├── ProviderUnavailable 5xx
        ├── ProviderTimeout     no answer within REQUEST_TIMEOUT, or no end within MAX_REPLY_SECONDS
        ├── CannotConnect       DNS, refused or reset connections
        ├── ReplyCutOff         the stream ended without a finish reason; partial text is kept
        └── EmptyReply          the provider finished without any text

Some messages give advice that only one audience can follow (a key box in the page, a header in a
script): those carry a second text, ``script_message``, for callers that did not come from the page.

Provider responses can echo the key (a 401 body that repeats it is common) and Gradio renders
error text as HTML, so messages here are fixed strings built only from our own data. Which one a
provider's failure becomes is decided in ``providers.classify``.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "ByokError",
    "CannotConnect",
    "ConfigError",
    "ContextTooLong",
    "CounterUnavailable",
    "EmptyReply",
    "ImagesNotAccepted",
    "InputRejected",
    "InvalidKey",
    "KeyRequired",
    "ModelNotAllowed",
    "ModelNotPriced",
    "NoHubCredits",
    "NoModelAccess",
    "OrgBillingRefused",
    "OutOfCredit",
    "ProviderError",
    "ProviderTimeout",
    "ProviderUnavailable",
    "QuotaExceeded",
    "RateLimited",
    "ReplyCutOff",
    "RequestRefused",
    "ServerKeyRejected",
    "SignInNeeded",
    "SpendLimitReached",
    "TooManyChats",
    "TooManyChecks",
    "TooManyUploads",
    "UnknownModel",
]


# Where API callers put their own key and the access code (ui/handlers.py reads them).
KEY_HEADER = "X-Provider-Key"
CODE_HEADER = "X-Access-Code"


class ByokError(Exception):
    """Base class; ``title``, ``str(error)`` (for the page) and ``script_message`` (for API
    callers) are safe to show to a user."""

    title = "Something went wrong"

    def __init__(self, message: str, *, script_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.script_message = script_message or message

    def __str__(self) -> str:
        return self.message


class ConfigError(ByokError):
    title = "Configuration error"


class InputRejected(ByokError):
    title = "Request refused"


class ModelNotAllowed(InputRejected):
    title = "Model not available"

    def __init__(self, label: str, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed
        super().__init__(
            f"On this server's {label} key the operator allows only: {', '.join(allowed)}. "
            f"Pick one of those, or enter your own {label} key to use any model."
        )


class ModelNotPriced(InputRejected):
    title = "Model not available"

    def __init__(self, label: str) -> None:
        # The model id is the visitor's own input: never repeated in text rendered as HTML.
        why = f"This model has no known price, and {label} on this server's key has a spending limit"
        super().__init__(
            f"{why}. Pick a model from the list, or enter your own {label} key. (Operators: price it with "
            f"MODEL_PRICES.)",
            script_message=f"{why}. Use a listed model, or send your own {label} key in the {KEY_HEADER} header. "
            f"(Operators: price it with MODEL_PRICES.)",
        )


class TooManyChecks(ByokError):
    title = "Too many checks"

    def __init__(self, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"Wait {_seconds(retry_after)} before checking again (key checks are limited per visitor).")


class TooManyChats(ByokError):
    title = "Too many chats at once"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"{limit} chats from here are already running or waiting. Wait for one to finish, then send again."
        )


class TooManyUploads(ByokError):
    title = "Upload limit reached"

    def __init__(self, limit: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"You have uploaded {limit} from here. Try again in {_seconds(retry_after)}.")


class AccessDenied(ByokError):
    title = "Access code needed"

    def __init__(self, message: str, *, script_message: str | None = None, title: str | None = None) -> None:
        super().__init__(message, script_message=script_message)
        if title:
            self.title = title  # "Sign-in needed" when the Hugging Face allow list said no


class QuotaExceeded(ByokError):
    title = "Usage limit reached"

    def __init__(self, what: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        # The page offers no key box for a provider on a server key, so only scripts, which can
        # send their own key, are told about that way out.
        used = f"You have used up {what} on this server's key. Try again in {_seconds(retry_after)}"
        super().__init__(f"{used}.", script_message=f"{used}, or send your own API key in the {KEY_HEADER} header.")


class SpendLimitReached(QuotaExceeded):
    title = "Spending limit reached"

    def __init__(self, limit: str, *, everyone: bool, retry_after: float, resets_at: str) -> None:
        self.retry_after = retry_after
        whose = "This site's" if everyone else "Your"
        when = f"It resets in {_seconds(retry_after)} (at {resets_at})"
        spent = f"{whose} spending limit on this server's key ({limit}) is used up. {when}"
        ByokError.__init__(
            self, f"{spent}.", script_message=f"{spent}; or send your own API key in the {KEY_HEADER} header."
        )


class CounterUnavailable(ByokError):
    """Raised instead of the counter store's own error, which names hosts and carries tracebacks."""

    title = "Usage limits unavailable"

    def __init__(self) -> None:
        super().__init__(
            "Usage limits can't be checked right now, so this server's keys are paused. Try again shortly."
        )


class KeyRequired(ByokError):
    title = "API key needed"

    def __init__(self, label: str, env_var: str | None) -> None:
        where = f", or ask the operator to set {env_var} on the server" if env_var else ""
        super().__init__(
            f"Enter your {label} API key in the key box (it is kept for this browser session only){where}.",
            script_message=f"Send your {label} API key in the {KEY_HEADER} header{where}.",
        )


# Where a Hugging Face account's Inference Providers spending and credits are shown, and how billing
# works: https://huggingface.co/docs/inference-providers/pricing ("You can track your spending on
# your billing page").
HUB_BILLING_URL = "https://huggingface.co/settings/billing"
HUB_PRICING_DOCS = "https://huggingface.co/docs/inference-providers/pricing"


class SignInNeeded(KeyRequired):
    """The Hugging Face row on a Space that offers sign-in, without a usable sign-in or typed key."""

    title = "Sign-in needed"

    def __init__(self, label: str, *, ended: bool) -> None:
        self.ended = ended
        ask = (
            "Your Hugging Face sign-in has expired or was revoked. Sign in again with the button at the top of "
            "the sidebar"
            if ended
            else "Sign in with Hugging Face (the button at the top of the sidebar) to chat on your own account"
        )
        ByokError.__init__(
            self,
            f"{ask}, or paste your own Hugging Face token in the key box. Then send your message again.",
            script_message=f"{label} here runs on each visitor's own Hugging Face account. Send your own "
            f"Hugging Face token in the {KEY_HEADER} header.",
        )


class ProviderError(ByokError):
    """The provider failed. Subclasses fix the wording; the provider's text is never kept."""

    title = "Provider error"

    def __init__(self, label: str, *, status: int | None = None) -> None:
        self.label = label
        self.status = status
        super().__init__(self.describe(label))

    def describe(self, label: str) -> str:
        code = f" (HTTP {self.status})" if self.status else ""
        return f"{label} returned an error{code}. Try again, or pick another model or provider."


class InvalidKey(ProviderError):
    title = "Invalid API key"

    def describe(self, label: str) -> str:
        return (
            f"{label} rejected the API key (HTTP {self.status or 401}). Check the key for {label}: that it "
            f"is correct, active and meant for {label}, then enter it again."
        )


class ServerKeyRejected(InvalidKey):
    """The operator's key was refused: the visitor has no key box and nothing to check."""

    title = "Server key rejected"

    def __init__(self, label: str, *, status: int | None = None) -> None:
        super().__init__(label, status=status)
        self.script_message = f"{self.message} Or send your own {label} API key in the {KEY_HEADER} header."

    def describe(self, label: str) -> str:
        return (
            f"{label} rejected this server's API key (HTTP {self.status or 401}). Nothing on your side can "
            f"fix that: tell whoever runs this app that its {label} key needs replacing."
        )


class NoModelAccess(ProviderError):
    title = "No access to this model"

    def describe(self, label: str) -> str:
        return (
            f"{label} accepted the API key, but this key has no access to the model you chose "
            f"(HTTP {self.status or 403}). Pick another model, or enable this one for the key in your "
            f"{label} account."
        )


class UnknownModel(ProviderError):
    title = "Unknown model"

    def __init__(self, label: str, *, model: str, status: int | None = 404) -> None:
        self.model = model
        super().__init__(label, status=status)

    def describe(self, label: str) -> str:
        return (
            f"{label} does not know the model you chose (HTTP {self.status or 404}). Pick another "
            f"model, or check the model name."
        )


class OutOfCredit(ProviderError):
    title = "Out of credit"

    def describe(self, label: str) -> str:
        return (
            f"{label} says this key is out of credit or over its spending limit (HTTP {self.status or 402}). "
            f"Check the account's billing and balance at {label}, or use another key."
        )


class NoHubCredits(OutOfCredit):
    """402 on a visitor's sign-in: their own account pays, so they are the one who can fix it."""

    title = "No credits left"

    def describe(self, label: str) -> str:
        return (
            f"Your Hugging Face account has no Inference Providers credits left (HTTP {self.status or 402}). "
            f"See your usage and add credits on your billing page, {HUB_BILLING_URL} (how billing works: "
            f"{HUB_PRICING_DOCS}), or paste a token from another account."
        )


class OrgBillingRefused(ProviderError):
    """Hugging Face refused a chat billed to an organisation (HTTP 401/402/403 with X-HF-Bill-To)."""

    title = "Organisation billing refused"

    def __init__(self, label: str, *, org: str, status: int | None = None) -> None:
        self.org = org
        super().__init__(label, status=status)

    def describe(self, label: str) -> str:
        return (
            f"Hugging Face would not bill the organisation {self.org} for this chat (HTTP {self.status or 403}): "
            f"it may not allow you to spend on its behalf, have no credits left, or not have granted this app "
            f'access when you signed in. Pick your own account under "Bill to", or ask the organisation\'s '
            f"admins ({HUB_PRICING_DOCS})."
        )


class RateLimited(ProviderError):
    title = "Rate limited"

    def __init__(self, label: str, *, status: int | None = 429, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(label, status=status)

    def describe(self, label: str) -> str:
        when = (
            f"Try again in {_seconds(self.retry_after)}."
            if self.retry_after is not None
            else "Wait a moment and try again."
        )
        return f"{label} is rate limiting this key. {when}"


class ContextTooLong(ProviderError):
    title = "Conversation too long"

    def describe(self, label: str) -> str:
        return (
            f"The conversation is too long for this model at {label} (HTTP {self.status or 400}). Start a "
            f"new chat, shorten your message or lower max tokens, or pick a model with a longer context."
        )


class RequestRefused(ProviderError):
    title = "Request refused by the provider"

    def __init__(self, label: str, *, status: int | None = None, setting: str | None = None) -> None:
        # `setting` is one of our own names for a request field (error_formats.SETTINGS), never the
        # provider's text.
        self.setting = setting
        super().__init__(label, status=status)

    def describe(self, label: str) -> str:
        if self.setting:
            return (
                f"{label} refused the request{_code(self.status)}: the model does not accept the "
                f"{self.setting} setting. Change it, or pick another model."
            )
        return (
            f"{label} refused the request{_code(self.status)}. The model may not support one of "
            f"the settings (temperature, max tokens) or the conversation may be too long."
        )


class ImagesNotAccepted(ProviderError):
    title = "Images not accepted"

    def describe(self, label: str) -> str:
        return f"This model does not accept images; pick a vision model. ({label})"


class ProviderUnavailable(ProviderError):
    title = "Provider unavailable"

    def describe(self, label: str) -> str:
        return f"{label} had a server error{_code(self.status)}. Try again in a moment."


class ProviderTimeout(ProviderError):
    title = "Timed out"

    def __init__(
        self, label: str, *, status: int | None = None, seconds: float | None = None, whole_reply: bool = False
    ) -> None:
        # Our own limits: REQUEST_TIMEOUT between reads, MAX_REPLY_SECONDS for a whole reply.
        self.seconds = seconds
        self.whole_reply = whole_reply
        super().__init__(label, status=status)

    def describe(self, label: str) -> str:
        return f"{label} {self.what()}. Try again, or pick a faster model."

    def what(self) -> str:
        if self.seconds is None:
            return "did not answer in time"
        return f"did not {'finish' if self.whole_reply else 'answer'} in time: {self.limit()}"

    def limit(self) -> str:
        """Which of our limits was reached, e.g. "no text for 60 seconds"."""
        if self.seconds is None:
            return "no answer in time"
        if self.whole_reply:
            return f"the reply ran past {_seconds(self.seconds)}"
        return f"no text for {_seconds(self.seconds)}"


class CannotConnect(ProviderError):
    title = "Cannot connect"

    def describe(self, label: str) -> str:
        return (
            f"Could not connect to {label}. The service may be down, or its address is wrong "
            f"in the server's configuration."
        )


class ReplyCutOff(ProviderError):
    title = "Reply cut off"

    def __init__(self, label: str, *, partial: str, cause: ProviderError | None = None) -> None:
        self.partial = partial
        # What ended the reply early, when it was more than the stream just ending.
        self.cause = cause
        if isinstance(cause, ProviderTimeout):
            self.title = "Timed out"
        super().__init__(label)

    def describe(self, label: str) -> str:
        if isinstance(self.cause, ProviderTimeout):
            return f"{label} {self.cause.what()}, so the reply stopped there; what arrived is kept."
        return f"{label} stopped sending before the reply was complete; what arrived is kept."


class EmptyReply(ProviderError):
    title = "Empty reply"

    def describe(self, label: str) -> str:
        return f"{label} finished without sending any text. Try again or rephrase."


def _code(status: int | None) -> str:
    return f" (HTTP {status})" if status else ""


def _seconds(value: float) -> str:
    whole = max(1, round(value))
    for unit, size in (("hour", 3600), ("minute", 60)):
        if whole >= size * 1.5:
            count = round(whole / size)
            return f"{count} {unit}s"
    return "1 second" if whole == 1 else f"{whole} seconds"
