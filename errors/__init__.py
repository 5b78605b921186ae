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

Each error names a sentence of the catalogue (``words``) by its key, with its parameters; the
sentence is said in the language of the request that asked (``text(language)``,
``script_text(language)``, ``title_in(language)``), and ``str(error)`` is the English one.

Provider responses can echo the key (a 401 body that repeats it is common) and Gradio renders
error text as HTML, so messages here are fixed sentences filled only with our own data. Which one a
provider's failure becomes is decided in ``providers.classify``.
"""

from __future__ import annotations

from words import ENGLISH, Duration, Phrase, say

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
    callers) are safe to show to a user, in English; ``title_in``, ``text`` and ``script_text``
    say them in another language.

    ``message`` and ``script`` are a catalogue key, or a ``Phrase`` (a key with parameters)."""

    title_key = "title_error"

    def __init__(self, message: str | Phrase, *, script: str | Phrase | None = None) -> None:
        self.phrase = _phrase(message)
        self.script_phrase = _phrase(script) if script is not None else self.phrase
        super().__init__(self.text(ENGLISH))

    @property
    def title(self) -> str:
        return say(ENGLISH, self.title_key)

    @property
    def message(self) -> str:
        return self.text(ENGLISH)

    @property
    def script_message(self) -> str:
        return self.script_text(ENGLISH)

    def title_in(self, language: str) -> str:
        return say(language, self.title_key)

    def text(self, language: str) -> str:
        return self.phrase.in_language(language)

    def script_text(self, language: str) -> str:
        return self.script_phrase.in_language(language)

    def __str__(self) -> str:
        return self.message


def _phrase(message: str | Phrase) -> Phrase:
    return message if isinstance(message, Phrase) else Phrase(message)


class ConfigError(ByokError):
    """For the operator, at start-up: English, and free text (it names their settings)."""

    title_key = "title_config_error"

    def __init__(self, message: str) -> None:
        super().__init__(Phrase("config_error", {"detail": message}))


class InputRejected(ByokError):
    title_key = "title_request_refused"


class ModelNotAllowed(InputRejected):
    title_key = "title_model_not_available"

    def __init__(self, label: str, allowed: tuple[str, ...]) -> None:
        self.allowed = allowed
        super().__init__(Phrase("error_model_not_allowed", {"provider": label, "models": ", ".join(allowed)}))


class ModelNotPriced(InputRejected):
    title_key = "title_model_not_available"

    def __init__(self, label: str) -> None:
        # The model id is the visitor's own input: never repeated in text rendered as HTML.
        super().__init__(
            Phrase("error_model_not_priced", {"provider": label}),
            script=Phrase("script_model_not_priced", {"provider": label, "header": KEY_HEADER}),
        )


class TooManyChecks(ByokError):
    title_key = "title_too_many_checks"

    def __init__(self, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(Phrase("error_too_many_checks", {"wait": Duration(retry_after)}))


class TooManyChats(ByokError):
    title_key = "title_too_many_chats"

    def __init__(self, limit: int) -> None:
        super().__init__(Phrase("error_too_many_chats", {"limit": limit}))


class TooManyUploads(ByokError):
    title_key = "title_upload_limit"

    def __init__(self, limit: object, *, retry_after: float) -> None:
        # ``limit`` is a words.Rate, or anything else said as it is.
        self.retry_after = retry_after
        super().__init__(Phrase("error_too_many_uploads", {"limit": limit, "wait": Duration(retry_after)}))


class AccessDenied(ByokError):
    title_key = "title_access_code_needed"

    def __init__(
        self, message: str | Phrase, *, script: str | Phrase | None = None, title_key: str | None = None
    ) -> None:
        super().__init__(message, script=script)
        if title_key:
            self.title_key = title_key  # "Sign-in needed" when the Hugging Face allow list said no


class QuotaExceeded(ByokError):
    title_key = "title_usage_limit"

    def __init__(self, what: Phrase, *, retry_after: float) -> None:
        self.retry_after = retry_after
        # The page offers no key box for a provider on a server key, so only scripts, which can
        # send their own key, are told about that way out.
        params = {"what": what, "wait": Duration(retry_after)}
        super().__init__(Phrase("error_quota", params), script=Phrase("script_quota", {**params, "header": KEY_HEADER}))


class SpendLimitReached(QuotaExceeded):
    title_key = "title_spend_limit"

    def __init__(self, limit: object, *, everyone: bool, retry_after: float, resets_at: str) -> None:
        self.retry_after = retry_after
        params = {"limit": limit, "wait": Duration(retry_after), "resets_at": resets_at, "header": KEY_HEADER}
        page, script = (
            ("error_spend_site", "script_spend_site") if everyone else ("error_spend_yours", "script_spend_yours")
        )
        ByokError.__init__(self, Phrase(page, params), script=Phrase(script, params))


class CounterUnavailable(ByokError):
    """Raised instead of the counter store's own error, which names hosts and carries tracebacks."""

    title_key = "title_counter_unavailable"

    def __init__(self) -> None:
        super().__init__("error_counter_unavailable")


class KeyRequired(ByokError):
    title_key = "title_key_needed"

    def __init__(self, label: str, env_var: str | None) -> None:
        params = {"provider": label, "env_var": env_var, "header": KEY_HEADER}
        if env_var:
            super().__init__(
                Phrase("error_key_needed_or_env", params), script=Phrase("script_key_needed_or_env", params)
            )
        else:
            super().__init__(Phrase("error_key_needed", params), script=Phrase("script_key_needed", params))


# Where a Hugging Face account's Inference Providers spending and credits are shown, and how billing
# works: https://huggingface.co/docs/inference-providers/pricing ("You can track your spending on
# your billing page").
HUB_BILLING_URL = "https://huggingface.co/settings/billing"
HUB_PRICING_DOCS = "https://huggingface.co/docs/inference-providers/pricing"


class SignInNeeded(KeyRequired):
    """The Hugging Face row on a Space that offers sign-in, without a usable sign-in or typed key."""

    title_key = "title_sign_in_needed"

    def __init__(self, label: str, *, ended: bool) -> None:
        self.ended = ended
        ByokError.__init__(
            self,
            "error_sign_in_ended" if ended else "error_sign_in_needed",
            script=Phrase("script_sign_in_needed", {"provider": label, "header": KEY_HEADER}),
        )


class ProviderError(ByokError):
    """The provider failed. Subclasses name the sentence (``key``); the provider's text is never
    kept. Every sentence may use {provider}, {status} (with the subclass's usual status when the
    response had none) and {code} (" (HTTP 500)", or nothing)."""

    title_key = "title_provider_error"
    key = "error_provider"
    usual_status: int | None = None

    def __init__(self, label: str, *, status: int | None = None) -> None:
        self.label = label
        self.status = status
        super().__init__(self.describe(label))

    def describe(self, label: str) -> Phrase:
        return Phrase(self.key, self.params(label))

    def params(self, label: str) -> dict[str, object]:
        return {"provider": label, "status": self.status or self.usual_status, "code": _code(self.status)}


class InvalidKey(ProviderError):
    title_key = "title_invalid_key"
    key = "error_invalid_key"
    usual_status = 401


class ServerKeyRejected(InvalidKey):
    """The operator's key was refused: the visitor has no key box and nothing to check."""

    title_key = "title_server_key_rejected"
    key = "error_server_key_rejected"

    def __init__(self, label: str, *, status: int | None = None) -> None:
        super().__init__(label, status=status)
        self.script_phrase = Phrase(
            "script_server_key_rejected", {**self.params(label), "message": self.phrase, "header": KEY_HEADER}
        )


class NoModelAccess(ProviderError):
    title_key = "title_no_model_access"
    key = "error_no_model_access"
    usual_status = 403


class UnknownModel(ProviderError):
    title_key = "title_unknown_model"
    key = "error_unknown_model"
    usual_status = 404

    def __init__(self, label: str, *, model: str, status: int | None = 404) -> None:
        self.model = model
        super().__init__(label, status=status)


class OutOfCredit(ProviderError):
    title_key = "title_out_of_credit"
    key = "error_out_of_credit"
    usual_status = 402


class NoHubCredits(OutOfCredit):
    """402 on a visitor's sign-in: their own account pays, so they are the one who can fix it."""

    title_key = "title_no_hub_credits"
    key = "error_no_hub_credits"

    def params(self, label: str) -> dict[str, object]:
        return {**super().params(label), "billing": HUB_BILLING_URL, "pricing": HUB_PRICING_DOCS}


class OrgBillingRefused(ProviderError):
    """Hugging Face refused a chat billed to an organisation (HTTP 401/402/403 with X-HF-Bill-To)."""

    title_key = "title_org_billing_refused"
    key = "error_org_billing_refused"
    usual_status = 403

    def __init__(self, label: str, *, org: str, status: int | None = None) -> None:
        self.org = org
        super().__init__(label, status=status)

    def params(self, label: str) -> dict[str, object]:
        return {**super().params(label), "org": self.org, "pricing": HUB_PRICING_DOCS}


class RateLimited(ProviderError):
    title_key = "title_rate_limited"

    def __init__(self, label: str, *, status: int | None = 429, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(label, status=status)

    def describe(self, label: str) -> Phrase:
        if self.retry_after is None:
            return Phrase("error_rate_limited", self.params(label))
        return Phrase("error_rate_limited_wait", {**self.params(label), "wait": Duration(self.retry_after)})


class ContextTooLong(ProviderError):
    title_key = "title_context_too_long"
    key = "error_context_too_long"
    usual_status = 400


class RequestRefused(ProviderError):
    title_key = "title_request_refused_by_provider"

    def __init__(self, label: str, *, status: int | None = None, setting: str | None = None) -> None:
        # `setting` is one of our own names for a request field (error_formats.SETTINGS), never the
        # provider's text.
        self.setting = setting
        super().__init__(label, status=status)

    def describe(self, label: str) -> Phrase:
        if self.setting:
            return Phrase("error_setting_refused", {**self.params(label), "setting": self.setting})
        return Phrase("error_request_refused", self.params(label))


class ImagesNotAccepted(ProviderError):
    title_key = "title_images_not_accepted"
    key = "error_images_not_accepted"


class ProviderUnavailable(ProviderError):
    title_key = "title_provider_unavailable"
    key = "error_provider_unavailable"


class ProviderTimeout(ProviderError):
    title_key = "title_timed_out"

    def __init__(
        self, label: str, *, status: int | None = None, seconds: float | None = None, whole_reply: bool = False
    ) -> None:
        # Our own limits: REQUEST_TIMEOUT between reads, MAX_REPLY_SECONDS for a whole reply.
        self.seconds = seconds
        self.whole_reply = whole_reply
        super().__init__(label, status=status)

    def describe(self, label: str) -> Phrase:
        if self.seconds is None:
            return Phrase("error_no_answer", self.params(label))
        key = "error_reply_too_long" if self.whole_reply else "error_no_text"
        return Phrase(key, {**self.params(label), "wait": Duration(self.seconds)})

    def limit(self) -> Phrase:
        """Which of our limits was reached, e.g. "no text for 60 seconds"."""
        if self.seconds is None:
            return Phrase("limit_no_answer")
        key = "limit_reply_too_long" if self.whole_reply else "limit_no_text"
        return Phrase(key, {"wait": Duration(self.seconds)})


class CannotConnect(ProviderError):
    title_key = "title_cannot_connect"
    key = "error_cannot_connect"


class ReplyCutOff(ProviderError):
    title_key = "title_reply_cut_off"

    def __init__(self, label: str, *, partial: str, cause: ProviderError | None = None) -> None:
        self.partial = partial
        # What ended the reply early, when it was more than the stream just ending.
        self.cause = cause
        if isinstance(cause, ProviderTimeout):
            self.title_key = "title_timed_out"
        super().__init__(label)

    def describe(self, label: str) -> Phrase:
        if not isinstance(self.cause, ProviderTimeout):
            return Phrase("error_reply_cut_off", self.params(label))
        if self.cause.seconds is None:
            return Phrase("error_cut_off_no_answer", self.params(label))
        key = "error_cut_off_reply_too_long" if self.cause.whole_reply else "error_cut_off_no_text"
        return Phrase(key, {**self.params(label), "wait": Duration(self.cause.seconds)})


class EmptyReply(ProviderError):
    title_key = "title_empty_reply"
    key = "error_empty_reply"


def _code(status: int | None) -> str:
    return f" (HTTP {status})" if status else ""
