"""The contract between the sync machinery and the provider adapters.

An adapter receives a :class:`ConnectionConfig` (plain data, decrypted credentials; never an
ORM object), talks to its provider through :mod:`balances.providers.http`, and either returns
one :class:`Snapshot` or raises :class:`ProviderError`.  Adapters never touch the database.
"""

from __future__ import annotations

import abc
import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from core.redaction import redact as redact_secrets


class ErrorCategory(enum.StrEnum):
    AUTH = "auth"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    BAD_RESPONSE = "bad_response"
    CONFIGURATION = "configuration"

    @property
    def label(self) -> str:
        return {
            "auth": "Authentication failed",
            "not_found": "Not found",
            "rate_limited": "Rate limited",
            "unavailable": "Provider unavailable",
            "timeout": "Timed out",
            "bad_response": "Unexpected response",
            "configuration": "Configuration problem",
        }[self.value]


class ProviderError(Exception):
    """A failed fetch.  ``message`` is for humans and never contains a credential.

    ``retryable`` is true for timeouts, connection errors, 5xx and 429; ``retry_after`` (seconds)
    is the provider's ``Retry-After`` when it sent one.
    """

    def __init__(
        self,
        category: ErrorCategory,
        message: str,
        *,
        retryable: bool = False,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.category = ErrorCategory(category)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.category.label}: {self.message}"


@dataclass(frozen=True)
class ConnectionConfig:
    """What an adapter needs to call its provider: the keys of ``credentials`` and ``options``
    are the names of the adapter's ``credential_fields`` and ``option_fields``."""

    kind: str
    base_url: str
    credentials: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print credentials, even in a traceback
        return f"ConnectionConfig(kind={self.kind!r}, base_url={self.base_url!r})"


@dataclass(frozen=True)
class CurrencyFigures:
    """One currency's figures, exact.  ``extras`` holds the provider's other figures
    (Payop referral/total, Finix posted, Wise cash/total worth, Wise jars by name)."""

    currency: str
    available: Decimal
    pending: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)
    extras: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    kind: str
    taken_at: datetime
    figures: tuple[CurrencyFigures, ...]
    # SyncPay documents that a zero balance may be left out of the response: for such a
    # provider a configured currency that is not reported is zero, not "unknown".
    omitted_means_zero: bool = False
    extras: Mapping[str, Any] = field(default_factory=dict)

    def by_currency(self) -> dict[str, CurrencyFigures]:
        return {f.currency: f for f in self.figures}


@dataclass(frozen=True)
class CredentialField:
    """One credential an adapter needs.  Credentials are write-only everywhere: stored
    encrypted, never rendered back.  ``secret`` shows it as a password field; ``strip`` trims
    pasted whitespace (a password keeps its own)."""

    name: str
    label: str
    help: str = ""
    secret: bool = True
    strip: bool = True


OptionInput = Literal["text", "lines", "list", "checkboxes"]
_EMPTY: tuple[object, ...] = (None, "", [], ())


@dataclass(frozen=True)
class OptionField:
    """One setting of a connection besides its credentials.

    ``clean`` normalises a raw value (from JSON or a form) or raises ``ValueError`` with a
    message naming the option.  An empty value means ``default`` (shown pre-filled in the
    form), or leaves the option out when ``omit_empty``.  ``input`` is how a form takes it:
    one line of text, a list typed one per line (``lines``) or comma-separated (``list``), or
    checkboxes over ``choices``.
    """

    name: str
    label: str
    clean: Callable[[Any], Any]
    help: str = ""
    input: OptionInput = "text"
    default: Any = None
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int | None = None
    omit_empty: bool = False

    @property
    def is_list(self) -> bool:
        return self.input != "text"


class ProviderAdapter(abc.ABC):
    """Base of the adapters.  A subclass describes its provider (what forms, the API, the
    connection actions and the rate limiter are built from) and implements ``fetch_snapshot``.
    """

    kind: ClassVar[str]
    label: ClassVar[str]
    # The documented hosts: production (the default) and the provider's own sandbox, if any.
    default_base_url: ClassVar[str]
    sandbox_base_url: ClassVar[str | None] = None
    credential_fields: ClassVar[tuple[CredentialField, ...]]
    option_fields: ClassVar[tuple[OptionField, ...]] = ()
    # (requests, per seconds) shared by every worker; settings.PROVIDER_RATE_LIMITS overrides.
    # Providers that publish no figure get this polite guess.
    rate_limit: ClassVar[tuple[int, float]] = (600, 60.0)

    @abc.abstractmethod
    def fetch_snapshot(self, config: ConnectionConfig) -> Snapshot:
        """Fetch the provider's balances once and return them as one snapshot, or raise
        :class:`ProviderError`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every adapter's fetch_snapshot is wrapped, whoever calls it (a sync, Test
        # connection): an error message that quotes the provider (a parse error previewing a
        # field, say) leaves with no form of any of the connection's credentials in it.
        fetch = cls.__dict__.get("fetch_snapshot")
        if fetch is not None and not getattr(fetch, "_redacts_credentials", False):
            setattr(cls, "fetch_snapshot", _redacting(fetch))  # noqa: B010

    @classmethod
    def credential_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls.credential_fields)

    @classmethod
    def documented_hosts(cls) -> tuple[str, ...]:
        urls = (cls.default_base_url, cls.sandbox_base_url)
        return tuple(urlsplit(url).hostname or "" for url in urls if url)

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Normalise and check ``options`` field by field (unknown keys are dropped); raise
        ``ValueError`` with a message naming the option for bad input."""
        cleaned: dict[str, Any] = {}
        for option in cls.option_fields:
            raw = options.get(option.name)
            if raw in _EMPTY and option.default is not None:
                raw = option.default
            value = option.clean(raw)
            if option.omit_empty and value in _EMPTY:
                continue
            cleaned[option.name] = value
        return cleaned

    @classmethod
    def validate_credentials(cls, credentials: Mapping[str, str]) -> None:
        """Check the complete set of credentials beyond presence (a key's documented shape);
        raise ``ValueError`` with a message that never repeats a credential."""
        return None

    @classmethod
    def describe_credentials(cls, credentials: Mapping[str, str]) -> str | None:
        """A short badge that may be shown next to the connection (never a secret), such as
        the mode a key selects; None for nothing to show."""
        return None


def _redacting(
    fetch: Callable[[Any, ConnectionConfig], Snapshot],
) -> Callable[[Any, ConnectionConfig], Snapshot]:
    @functools.wraps(fetch)
    def wrapper(self: Any, config: ConnectionConfig) -> Snapshot:
        try:
            return fetch(self, config)
        except ProviderError as exc:
            secrets = _credential_values(config)
            message = redact_secrets(exc.message, secrets) if secrets else exc.message
            if message == exc.message:
                raise
            raise ProviderError(
                exc.category,
                message,
                retryable=exc.retryable,
                status_code=exc.status_code,
                retry_after=exc.retry_after,
            ) from None

    wrapper._redacts_credentials = True  # type: ignore[attr-defined]
    return wrapper


def _credential_values(config: ConnectionConfig) -> list[str]:
    """The credentials, stripped and not, and each pair joined by ":" (HTTP Basic)."""
    values = [v for v in (config.credentials or {}).values() if isinstance(v, str) and v]
    found = {*values, *(v.strip() for v in values)}
    found |= {f"{a}:{b}" for a in values for b in values if a is not b}
    return [v for v in found if v]


# --- Registry -----------------------------------------------------------------------------
# Kind -> adapter class, in the order operators see the providers (the package imports the
# adapters in that order; importing any module below balances.providers runs it first).

_REGISTRY: dict[str, type[ProviderAdapter]] = {}


def register(cls: type[ProviderAdapter]) -> type[ProviderAdapter]:
    _REGISTRY[cls.kind] = cls
    return cls


def unregister(kind: str) -> None:
    _REGISTRY.pop(kind, None)


def adapter_classes() -> dict[str, type[ProviderAdapter]]:
    return dict(_REGISTRY)


def adapter_class(kind: str) -> type[ProviderAdapter] | None:
    return _REGISTRY.get(kind)


def get_adapter(kind: str) -> ProviderAdapter:
    try:
        return _REGISTRY[kind]()
    except KeyError:
        raise ProviderError(
            ErrorCategory.CONFIGURATION, f"Unknown provider kind {kind!r}."
        ) from None


def kind_choices() -> list[tuple[str, str]]:
    """``[("syncpay", "SyncPay"), ...]`` for forms, serializers and the API schema's enum."""
    return [(kind, cls.label) for kind, cls in _REGISTRY.items()]


def provider_label(kind: str) -> str:
    """ "SyncPay" for "syncpay"; an unknown kind is shown as it is."""
    cls = _REGISTRY.get(kind)
    return cls.label if cls is not None else kind


# --- Helpers shared by the adapters -------------------------------------------------------
# Every check below raises BAD_RESPONSE naming the offending field: a response that does not
# match the documented shape never yields a partial snapshot.  The adapters require every
# field that feeds a figure; purely informational fields (SyncPay account_id, Payop referral)
# are type-checked when present.

MAX_DECIMAL_PLACES = 8
_PLAIN_DECIMAL = re.compile(r"-?\d+(\.\d+)?", re.ASCII)  # ASCII digits only


def bad_response(message: str) -> ProviderError:
    return ProviderError(ErrorCategory.BAD_RESPONSE, message)


def configuration_error(message: str) -> ProviderError:
    return ProviderError(ErrorCategory.CONFIGURATION, message)


def require_mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise bad_response(f"{what} must be an object, got {_json_type(value)}.")
    return value


def require_list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad_response(f"{what} must be an array, got {_json_type(value)}.")
    return value


def require_field(obj: Mapping[str, Any], name: str, what: str) -> Any:
    if name not in obj:
        raise bad_response(f"{what} has no {name!r} field.")
    return obj[name]


def require_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise bad_response(f"{what} must be a string, got {_json_type(value)}.")
    return value


def currency_code(value: object, what: str) -> str:
    code = require_str(value, what).strip().upper()
    if not code:
        raise bad_response(f"{what} is empty.")
    return code


def check_amount(value: Decimal, what: str) -> Decimal:
    """Finite, at most 8 decimal places (trailing zeros aside), storable."""
    from core.money.currencies import MAX_ABS_AMOUNT

    if not value.is_finite():
        raise bad_response(f"{what} is not a finite number.")
    if abs(value) > MAX_ABS_AMOUNT:
        raise bad_response(f"{what} ({value}) is too large.")
    quantum = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
    if value != value.quantize(quantum):
        raise bad_response(f"{what} ({value}) has more than {MAX_DECIMAL_PLACES} decimal places.")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and (exponent > 0 or exponent < -MAX_DECIMAL_PLACES):
        # "0.100000000" or "1E+3": the same value written with at most 8 places.
        value = value.quantize(quantum) if exponent < 0 else value.quantize(Decimal(1))
    return value


def decimal_from_string(value: object, what: str) -> Decimal:
    """A documented decimal string such as ``"1250.50"`` or ``"-12.00"``."""
    text = require_str(value, what)
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise bad_response(f"{what} ({_preview(text)}) is not a decimal number.")
    return check_amount(Decimal(text), what)


def decimal_from_number(value: object, what: str) -> Decimal:
    """A JSON number decoded exactly (``parse_float=Decimal``): ``int`` or ``Decimal``."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise bad_response(f"{what} must be a number, got {_json_type(value)}.")
    return check_amount(Decimal(value), what)


def integer_from_number(value: object, what: str) -> int:
    """A JSON integer; ``10.0``, ``true`` and ``"10"`` are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_response(f"{what} must be an integer, got {_json_type(value)}.")
    return value


def credential(config: ConnectionConfig, name: str, *, strip: bool = True) -> str:
    """A credential by name; a pasted token loses stray whitespace, a password does not."""
    value = config.credentials.get(name)
    if not isinstance(value, str) or not value.strip():
        raise configuration_error(f"The credential {name!r} is missing.")
    return value.strip() if strip else value


def base_url(config: ConnectionConfig, default: str) -> str:
    url = (config.base_url or "").strip() or default
    if not url.startswith(("https://", "http://")):
        raise configuration_error("The base URL must start with https:// or http://.")
    return url.rstrip("/")


def checked_options(adapter: type[ProviderAdapter], options: Mapping[str, Any]) -> dict[str, Any]:
    """``validate_options`` at fetch time: stored options that went bad are a configuration
    problem, reported before any request."""
    try:
        return adapter.validate_options(options or {})
    except ValueError as exc:
        raise configuration_error(str(exc)) from None


def build_snapshot(
    kind: str,
    figures: Iterable[CurrencyFigures],
    *,
    unsupported: Iterable[str] = (),
    taken_at: datetime | None = None,
    omitted_means_zero: bool = False,
    extras: Mapping[str, Any] | None = None,
) -> Snapshot:
    all_extras = dict(extras or {})
    all_extras["unsupported_currencies"] = sorted(set(unsupported))
    return Snapshot(
        kind=kind,
        taken_at=taken_at or datetime.now(UTC),
        figures=tuple(sorted(figures, key=lambda f: f.currency)),
        omitted_means_zero=omitted_means_zero,
        extras=all_extras,
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _preview(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")
