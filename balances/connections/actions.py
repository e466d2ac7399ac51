"""Writes to a service's provider connection.  Credentials are write-only: a blank or missing
credential keeps the stored one; they are encrypted before they reach the database and are
never echoed in errors or the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from balances.providers.base import ConnectionConfig, adapter_classes
from core.actors import Actor
from core.crypto import CredentialsUnreadable, decrypt_credentials, encrypt_credentials
from core.errors import NotFound, ValidationFailed
from services.actions import audit
from services.models import ProviderConnection, Service

CREDENTIAL_MAX_LENGTH = 4096


def credential_fields(kind: str) -> tuple[str, ...]:
    return adapter_classes()[kind].credential_fields


def _kind(raw: object) -> str:
    kind = str(raw or "").strip().lower()
    if kind not in ProviderConnection.Kind.values:
        raise ValidationFailed(
            f"Provider must be one of {', '.join(ProviderConnection.Kind.values)}.", field="kind"
        )
    return kind


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
    kind: str, given: Mapping[str, Any] | None, current: dict[str, str]
) -> dict[str, str]:
    fields = credential_fields(kind)
    given = given or {}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise ValidationFailed(
            f"Unknown credential {', '.join(unknown)} for {kind}; expected {', '.join(fields)}.",
            field="credentials",
        )
    merged: dict[str, str] = {}
    for name in fields:
        value = given.get(name)
        if value is not None and not isinstance(value, str):
            raise ValidationFailed(f"Credential {name} must be a string.", field="credentials")
        value = (value or "").strip() if name != "password" else (value or "")
        if len(value) > CREDENTIAL_MAX_LENGTH:
            raise ValidationFailed(f"Credential {name} is too long.", field="credentials")
        merged[name] = value or current.get(name, "")
    missing = [name for name in fields if not merged[name]]
    if missing:
        raise ValidationFailed(
            f"{kind} needs {', '.join(missing)}.",
            field="credentials",
            details={"missing": missing},
        )
    if kind == "syncpay":
        from balances.providers.syncpay import syncpay_mode

        if syncpay_mode(merged["apiKey"]) is None:
            raise ValidationFailed(
                "A SyncPay API key starts with sk_test_ or sk_live_.", field="credentials"
            )
    return merged


def _options(kind: str, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    if raw is not None and not isinstance(raw, Mapping):
        raise ValidationFailed("Options must be an object.", field="options")
    try:
        return adapter_classes()[kind].validate_options(dict(raw or {}))
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="options") from None


def stored_credentials(connection: ProviderConnection) -> dict[str, str]:
    try:
        return decrypt_credentials(connection.credentials_encrypted)
    except CredentialsUnreadable:
        return {}


def stored_credential_names(connection: ProviderConnection | None) -> list[str]:
    """Which credentials are stored, sorted (their values are never shown)."""
    if connection is None:
        return []
    return sorted(name for name, value in stored_credentials(connection).items() if value)


def connection_config(connection: ProviderConnection) -> ConnectionConfig:
    """What the adapter needs, decrypted in memory only."""
    return ConnectionConfig(
        kind=connection.kind,
        base_url=connection.effective_base_url,
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
    kind = _kind(kind)
    existing = service.provider_connection_or_none
    current = stored_credentials(existing) if existing and existing.kind == kind else {}
    url = _base_url(base_url) or adapter_classes()[kind].default_base_url
    return ConnectionConfig(
        kind=kind,
        base_url=url.rstrip("/"),
        credentials=_credentials(kind, credentials, current),
        options=_options(kind, options),
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
    kind = _kind(kind)
    existing = ProviderConnection.objects.select_for_update().filter(service=service).first()
    current = stored_credentials(existing) if existing and existing.kind == kind else {}
    url = _base_url(base_url)
    secrets = _credentials(kind, credentials, current)
    opts = _options(kind, options)

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
