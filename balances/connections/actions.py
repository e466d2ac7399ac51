"""Writes to a service's provider connection.  Credentials are write-only: a blank or missing
credential keeps the stored one; they are encrypted before they reach the database and are
never echoed in errors or the audit trail.

Credentials are bound to the kind and base URL they were entered for (queries.py): changing
either needs the credentials again in the same save, a base URL must pass the outbound rule
(balances/providers/http.py ``check_base_url``), and credentials bound elsewhere are never
sent (``connection_config`` refuses them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from balances.connections.queries import (
    connection_binding,
    credential_binding,
    effective_base_url,
    stored_credentials_and_binding,
    usable_credentials,
)
from balances.providers.base import (
    ConnectionConfig,
    ProviderAdapter,
    ProviderError,
    Snapshot,
    adapter_class,
    adapter_classes,
    get_adapter,
)
from balances.providers.http import check_base_url
from core.actors import Actor
from core.crypto import (
    CredentialsNotBound,
    CredentialsUnreadable,
    decrypt_bound_credentials,
    encrypt_credentials,
)
from core.errors import DomainError, NotFound, ValidationFailed
from core.outbound import OutboundRefused
from services.actions import audit
from services.models import ProviderConnection, Service

CREDENTIAL_MAX_LENGTH = 4096


def _adapter(raw: object) -> type[ProviderAdapter]:
    """The adapter of a kind given by the operator or a client; only registered kinds."""
    kind = str(raw or "").strip().lower()
    adapter = adapter_class(kind)
    if adapter is None:
        raise ValidationFailed(
            f"Provider must be one of {', '.join(adapter_classes())}.", field="kind"
        )
    return adapter


def _base_url(raw: object, adapter: type[ProviderAdapter]) -> str:
    """The base URL as given (blank: the documented default), if the outbound rule allows it
    for this provider; a refusal names ``baseUrl`` and why, and nothing is requested."""
    url = _base_url_syntax(raw)
    try:
        check_base_url(adapter.kind, url or adapter.default_base_url, resolve_names=True)
    except OutboundRefused as exc:
        raise ValidationFailed(f"Base URL not allowed: {exc}", field="baseUrl") from None
    return url


def _base_url_syntax(raw: object) -> str:
    url = str(raw or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(
            "Base URL must be an http(s) URL, e.g. https://api.example.com.", field="baseUrl"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationFailed(
            "Base URL must not carry credentials, a query or a fragment; "
            "put credentials in their own fields.",
            field="baseUrl",
        )
    return url.rstrip("/")


def _short_label(label: str) -> str:
    """ "API key (sk_test_… or sk_live_…)" -> "API key"; "Username" -> "username"."""
    label = re.sub(r"\s*\(.*\)\s*$", "", label).strip() or label
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _rebind_reason(
    stored: dict[str, str], bound_to: dict[str, str] | None, binding: dict[str, str]
) -> str | None:
    """What to ask when stored credentials cannot be kept for ``binding`` (a template for the
    missing credentials' names); None when they can, or when there are none."""
    if not stored or bound_to is None or bound_to == binding:
        return None
    if bound_to.get("kind") != binding["kind"]:
        return "Enter the {what}: the provider changed."
    return "Enter the {what} again: the base URL changed."


def _credentials(
    adapter: type[ProviderAdapter],
    given: Mapping[str, Any] | None,
    current: dict[str, str],
    *,
    reentry: str | None = None,
) -> dict[str, str]:
    """``given`` over ``current`` (the stored credentials still bound to where they would be
    sent).  ``reentry`` asks for the missing ones when stored ones no longer count."""
    kind, fields = adapter.kind, adapter.credential_fields
    names = [f.name for f in fields]
    given = given or {}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValidationFailed(
            f"Unknown credential {', '.join(unknown)} for {kind}; expected {', '.join(names)}.",
            field="credentials",
        )
    merged: dict[str, str] = {}
    for field in fields:
        value = given.get(field.name)
        if value is not None and not isinstance(value, str):
            raise ValidationFailed(
                f"Credential {field.name} must be a string.", field="credentials"
            )
        value = (value or "").strip() if field.strip else (value or "")
        if len(value) > CREDENTIAL_MAX_LENGTH:
            raise ValidationFailed(f"Credential {field.name} is too long.", field="credentials")
        merged[field.name] = value or current.get(field.name, "")
    missing = [name for name in names if not merged[name]]
    if missing:
        message = f"{kind} needs {', '.join(missing)}."
        if reentry:
            labels = [_short_label(f.label) for f in fields if f.name in missing]
            what = " and ".join(labels) if len(labels) < 3 else ", ".join(labels)
            message = reentry.format(what=what)
        raise ValidationFailed(message, field="credentials", details={"missing": missing})
    try:
        adapter.validate_credentials(merged)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="credentials") from None
    return merged


def _options(adapter: type[ProviderAdapter], raw: Mapping[str, Any] | None) -> dict[str, Any]:
    if raw is not None and not isinstance(raw, Mapping):
        raise ValidationFailed("Options must be an object.", field="options")
    try:
        return adapter.validate_options(dict(raw or {}))
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="options") from None


def _stored(connection: ProviderConnection | None) -> tuple[dict[str, str], dict | None]:
    if connection is None:
        return {}, None
    try:
        return stored_credentials_and_binding(connection)
    except CredentialsUnreadable:
        return {}, None


def _explicitly_bound(connection: ProviderConnection | None, binding: dict[str, str]) -> bool:
    if connection is None:
        return False
    try:
        return decrypt_bound_credentials(connection.credentials_encrypted)[1] == binding
    except CredentialsUnreadable:
        return False


def connection_config(connection: ProviderConnection) -> ConnectionConfig:
    """What the adapter needs, decrypted in memory only.  Raise ``CredentialsUnreadable``
    (``CredentialsNotBound``) when the stored credentials were entered for another kind or
    base URL than the connection has now: they are not handed to the adapter at all."""
    token = connection.credentials_encrypted
    credentials, bound_to = decrypt_bound_credentials(token)
    binding = connection_binding(connection)
    if bound_to is None and credentials:
        # Stored before bindings existed: bound now to the connection as it is (see
        # queries.stored_credentials_and_binding), unless someone saved meanwhile.
        ProviderConnection.objects.filter(pk=connection.pk, credentials_encrypted=token).update(
            credentials_encrypted=encrypt_credentials(credentials, binding=binding)
        )
        bound_to = binding
    if credentials and bound_to != binding:
        raise CredentialsNotBound(
            "The stored credentials were entered for another provider or base URL, so they "
            "were not sent. Enter them again on the connection page."
        )
    return ConnectionConfig(
        kind=connection.kind,
        base_url=effective_base_url(connection),
        credentials=credentials,
        options=dict(connection.options or {}),
    )


def preview_config(
    *,
    service: Service,
    kind: str,
    base_url: str = "",
    credentials: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> ConnectionConfig:
    """A config from form input, falling back to the stored secrets only where they are
    bound to this kind and base URL (for Test connection)."""
    adapter = _adapter(kind)
    existing = service.provider_connection_or_none
    url = _base_url(base_url, adapter)
    binding = credential_binding(adapter.kind, url)
    stored, bound_to = _stored(existing)
    return ConnectionConfig(
        kind=adapter.kind,
        base_url=(url or adapter.default_base_url).rstrip("/"),
        credentials=_credentials(
            adapter,
            credentials,
            usable_credentials(existing, binding),
            reentry=_rebind_reason(stored, bound_to, binding),
        ),
        options=_options(adapter, options),
    )


def connection_test(
    *,
    service: Service,
    actor: Actor,
    kind: str,
    base_url: str = "",
    credentials: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Snapshot:
    """Test connection: fetch once with the given settings (stored secrets where blank and
    still bound) and return the snapshot, writing nothing but the audit entry (who tested
    what, when, and the outcome; never a secret).  Raise ``DomainError`` for bad input
    (nothing is requested) or ``ProviderError``."""
    outcome = "error"  # an unexpected exception
    effective = ""  # recorded only once checked: what was typed may hold anything
    try:
        config = preview_config(
            service=service, kind=kind, base_url=base_url, credentials=credentials, options=options
        )
        effective = config.base_url
        snapshot = get_adapter(config.kind).fetch_snapshot(config)
        outcome = "succeeded"
        return snapshot
    except ProviderError as exc:
        outcome = exc.category.value
        raise
    except DomainError as exc:
        outcome = f"invalid {exc.field}" if exc.field else "invalid"
        raise
    finally:
        audit(
            actor=actor,
            action="provider_tested",
            subject=service.public_id,
            service=service,
            object_type="connection",
            object_id=service.public_id,
            changes={"kind": str(kind or "")[:32], "baseUrl": effective[:500], "outcome": outcome},
        )


def connection_save(
    *,
    service: Service,
    kind: str,
    actor: Actor,
    base_url: str = "",
    credentials: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    create_missing_balances: bool = False,
) -> ProviderConnection:
    """Create or replace the connection.  Saving resumes a paused connection."""
    adapter = _adapter(kind)
    # Checked (its name looked up) before the transaction: no lock or SQLite write lock is
    # held while a resolver answers.
    url = _base_url(base_url, adapter)
    return _connection_write(
        service=service,
        adapter=adapter,
        actor=actor,
        url=url,
        credentials=credentials,
        options=options,
        create_missing_balances=create_missing_balances,
    )


@transaction.atomic
def _connection_write(
    *,
    service: Service,
    adapter: type[ProviderAdapter],
    actor: Actor,
    url: str,
    credentials: Mapping[str, Any] | None,
    options: Mapping[str, Any] | None,
    create_missing_balances: bool,
) -> ProviderConnection:
    kind = adapter.kind
    existing = ProviderConnection.objects.select_for_update().filter(service=service).first()
    binding = credential_binding(kind, url)
    stored, bound_to = _stored(existing)
    # Stored credentials count only where they were entered for this kind and base URL;
    # otherwise the save needs them again (and the old ones are replaced by the new).
    current = usable_credentials(existing, binding)
    secrets = _credentials(
        adapter, credentials, current, reentry=_rebind_reason(stored, bound_to, binding)
    )
    opts = _options(adapter, options)

    changes: dict[str, Any] = {}
    connection = existing or ProviderConnection(service=service)
    for field, value in (
        ("kind", kind),
        ("base_url", url),
        ("options", opts),
        ("create_missing_balances", bool(create_missing_balances)),
    ):
        if existing is None or getattr(connection, field) != value:
            changes[field] = [getattr(existing, field) if existing else None, value]
            setattr(connection, field, value)
    changed_secrets = sorted(k for k in secrets if secrets[k] != current.get(k))
    if changed_secrets or not _explicitly_bound(existing, binding):
        # Bound to the kind and base URL saved now (never a value in the audit trail).
        changes["credentials"] = (
            f"changed: {', '.join(changed_secrets)}" if changed_secrets else "bound"
        )
        connection.credentials_encrypted = encrypt_credentials(secrets, binding=binding)
    if connection.is_paused:
        changes["paused"] = [True, False]
    connection.paused_at = None
    connection.paused_reason = ""
    connection.consecutive_failures = 0
    if connection.next_sync_at is None:
        connection.next_sync_at = timezone.now()
    connection.save()
    if changes:
        audit(
            actor=actor,
            action="provider_connected" if existing is None else "provider_updated",
            subject=service.public_id,
            service=service,
            object_type="connection",
            object_id=service.public_id,
            changes=changes,
        )
    return connection


@transaction.atomic
def connection_delete(*, service: Service, actor: Actor) -> None:
    connection = ProviderConnection.objects.select_for_update().filter(service=service).first()
    if connection is None:
        raise NotFound(f"{service.public_id} has no provider connection.")
    audit(
        actor=actor,
        action="provider_disconnected",
        subject=service.public_id,
        service=service,
        object_type="connection",
        object_id=service.public_id,
        changes={"kind": connection.kind},
    )
    connection.delete()


@transaction.atomic
def connection_resume(*, service: Service, actor: Actor) -> ProviderConnection:
    connection = ProviderConnection.objects.select_for_update().filter(service=service).first()
    if connection is None:
        raise NotFound(f"{service.public_id} has no provider connection.")
    if connection.is_paused:
        audit(
            actor=actor,
            action="provider_resumed",
            subject=service.public_id,
            service=service,
            object_type="connection",
            object_id=service.public_id,
            changes={"paused_reason": connection.paused_reason},
        )
    connection.paused_at = None
    connection.paused_reason = ""
    connection.consecutive_failures = 0
    connection.next_sync_at = timezone.now()
    connection.save(
        update_fields=[
            "paused_at",
            "paused_reason",
            "consecutive_failures",
            "next_sync_at",
            "updated_at",
        ]
    )
    return connection
