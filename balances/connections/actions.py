"""Writes to a service's provider connection.  Credentials are write-only: a blank or missing
credential keeps the stored one; they are encrypted before they reach the database and are
never echoed in errors or the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from balances.connections.queries import effective_base_url, stored_credentials
from balances.providers.base import (
    ConnectionConfig,
    ProviderAdapter,
    adapter_class,
    adapter_classes,
)
from core.actors import Actor
from core.crypto import decrypt_credentials, encrypt_credentials
from core.errors import NotFound, ValidationFailed
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


def _base_url(raw: object) -> str:
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


def _credentials(
    adapter: type[ProviderAdapter], given: Mapping[str, Any] | None, current: dict[str, str]
) -> dict[str, str]:
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
        raise ValidationFailed(
            f"{kind} needs {', '.join(missing)}.",
            field="credentials",
            details={"missing": missing},
        )
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


def connection_config(connection: ProviderConnection) -> ConnectionConfig:
    """What the adapter needs, decrypted in memory only."""
    return ConnectionConfig(
        kind=connection.kind,
        base_url=effective_base_url(connection),
        credentials=decrypt_credentials(connection.credentials_encrypted),
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
    """A config from form input, falling back to stored secrets (for Test connection)."""
    adapter = _adapter(kind)
    existing = service.provider_connection_or_none
    current = stored_credentials(existing) if existing and existing.kind == adapter.kind else {}
    url = _base_url(base_url) or adapter.default_base_url
    return ConnectionConfig(
        kind=adapter.kind,
        base_url=url.rstrip("/"),
        credentials=_credentials(adapter, credentials, current),
        options=_options(adapter, options),
    )


@transaction.atomic
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
    kind = adapter.kind
    existing = ProviderConnection.objects.select_for_update().filter(service=service).first()
    current = stored_credentials(existing) if existing and existing.kind == kind else {}
    url = _base_url(base_url)
    secrets = _credentials(adapter, credentials, current)
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
    if changed_secrets:
        changes["credentials"] = f"changed: {', '.join(changed_secrets)}"
        connection.credentials_encrypted = encrypt_credentials(secrets)
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
