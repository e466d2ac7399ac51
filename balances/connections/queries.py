"""Reads of a service's provider connection.  Secrets are decrypted in memory only and never
leave this module except to the adapter (``actions.connection_config``) and the write path.

Stored credentials are bound to the provider kind and the normalised effective base URL they
were entered for (:func:`credential_binding`, stored inside the encrypted payload): they are
used only while the connection still has that kind and that URL."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from balances.providers.base import adapter_class
from core.crypto import CredentialsUnreadable, decrypt_bound_credentials
from core.errors import NotFound
from core.outbound import OutboundRefused, normalise_url
from services.models import ProviderConnection, Service


def connection_get(service: Service) -> ProviderConnection:
    """The service's connection (joined by ``service_get``); ``NotFound`` otherwise."""
    connection = service.provider_connection_or_none
    if connection is None:
        raise NotFound(f"{service.public_id} has no provider connection.")
    return connection


def effective_base_url(connection: ProviderConnection) -> str:
    """The URL the adapter calls: the stored one, else the provider's documented production
    host (empty for a kind no adapter knows any more)."""
    if connection.base_url:
        return connection.base_url.rstrip("/")
    adapter = adapter_class(connection.kind)
    return adapter.default_base_url.rstrip("/") if adapter is not None else ""


def credential_binding(kind: str, base_url: str) -> dict[str, str]:
    """What credentials entered now for ``kind`` at ``base_url`` (blank: the documented
    default) are bound to: the kind and the normalised effective base URL."""
    url = (base_url or "").strip()
    if not url:
        adapter = adapter_class(kind)
        url = adapter.default_base_url if adapter is not None else ""
    return {"kind": kind, "baseUrl": _binding_url(url)}


@lru_cache(maxsize=1024)
def _binding_url(url: str) -> str:
    # Pure, and asked for every service of a fleet sync (most share a base URL): once each.
    try:
        return normalise_url(url)
    except OutboundRefused:
        return url.rstrip("/")  # never equal to a valid URL's binding


def connection_binding(connection: ProviderConnection) -> dict[str, str]:
    return credential_binding(connection.kind, connection.base_url)


def stored_credentials_and_binding(
    connection: ProviderConnection,
) -> tuple[dict[str, str], dict[str, str]]:
    """The stored credentials and what they are bound to; raise ``CredentialsUnreadable``
    when the configured keys cannot decrypt them.  Credentials stored before bindings
    existed count as bound to the connection as it is: from then on any change of kind or
    URL goes through ``connection_save``, which asks for them again, and they are bound
    explicitly at their next save or use (``actions.connection_config``)."""
    credentials, bound_to = decrypt_bound_credentials(connection.credentials_encrypted)
    return credentials, bound_to if bound_to is not None else connection_binding(connection)


def stored_credentials(connection: ProviderConnection) -> dict[str, str]:
    """The stored credentials, whatever they are bound to (empty when unreadable)."""
    try:
        return stored_credentials_and_binding(connection)[0]
    except CredentialsUnreadable:
        return {}


def usable_credentials(connection: ProviderConnection | None, binding: dict[str, str]) -> dict:
    """The stored credentials if they are bound to ``binding``, else nothing."""
    if connection is None:
        return {}
    try:
        credentials, bound_to = stored_credentials_and_binding(connection)
    except CredentialsUnreadable:
        return {}
    return credentials if bound_to == binding else {}


def stored_credential_names(connection: ProviderConnection | None) -> list[str]:
    """Which credentials are stored for the connection's current kind and base URL, sorted
    (their values are never shown); credentials bound elsewhere are not counted."""
    if connection is None:
        return []
    credentials = usable_credentials(connection, connection_binding(connection))
    return sorted(name for name, value in credentials.items() if value)


def connection_summary(connection: ProviderConnection | None) -> dict[str, Any]:
    """What the pages show about a connection besides its own columns: the provider's badge
    for the stored credentials (e.g. SyncPay's "test mode"), which credentials are set and
    the URL actually called.  Never a secret."""
    if connection is None:
        return {"credentials_badge": None, "credentials_set": [], "effective_base_url": ""}
    credentials = usable_credentials(connection, connection_binding(connection))
    adapter = adapter_class(connection.kind)
    return {
        "credentials_badge": adapter.describe_credentials(credentials) if adapter else None,
        "credentials_set": sorted(name for name, value in credentials.items() if value),
        "effective_base_url": effective_base_url(connection),
    }
