"""``Authorization: Bearer <key>`` authentication with the users' API keys.

Only the key's SHA-256 is stored, so a lookup is one indexed query on ``key_hash`` (with the
key's user joined, hand-written: see :mod:`core.rawsql`), then one for the user's
permissions.  Both run on every request, nothing is cached across requests: a revoked key, a
deactivated user or a changed role is refused or applied from the very next request.  A request
without an ``Authorization`` header falls through to session authentication (the browsable
API); a header that is present but wrong is a 401 straight away, never a silent fallback.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from core import rawsql
from core.api.auth import preload_permissions
from services.accounts.actions import hash_key, key_looks_valid
from services.models import ApiKey

# Recording every use would turn each read into a write; once a minute is precise enough
# for "last used" and costs one UPDATE per key per minute at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)
KEYWORD = "Bearer"


@cache
def _key_sql(using: str, vendor: str) -> str:
    q = connections[using].ops.quote_name
    user_model = get_user_model()
    keys, users = q(rawsql.table(ApiKey)), q(rawsql.table(user_model))
    key_hash, owner = q(rawsql.column(ApiKey, "key_hash")), q(rawsql.column(ApiKey, "user"))
    user_id = q(rawsql.column(user_model, user_model._meta.pk.name))
    # Identifiers from the models only; the hash is the one value, a parameter.
    return (
        f"SELECT {rawsql.select_list(ApiKey, using=using)}, "  # noqa: S608
        f"{rawsql.select_list(user_model, using=using)} "
        f"FROM {keys} INNER JOIN {users} ON {users}.{user_id} = {keys}.{owner} "
        f"WHERE {keys}.{key_hash} = %s"
    )


def key_with_user(digest: str) -> ApiKey | None:
    """The key whose hash is ``digest``, its user loaded with it (one indexed read), as
    ``ApiKey.objects.select_related("user").get(key_hash=digest)`` would give it; None when
    there is none."""
    using = router.db_for_read(ApiKey)
    connection = connections[using]
    rows = rawsql.fetch(_key_sql(using, connection.vendor), [digest], using=using)
    if not rows:
        return None
    row = rows[0]
    split = rawsql.width(ApiKey)
    key = rawsql.loaded(ApiKey, row[:split], using=using)
    user = rawsql.loaded(get_user_model(), row[split:], using=using)
    ApiKey._meta.get_field("user").set_cached_value(key, user)
    return key


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != KEYWORD.lower().encode():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <API key>'.")
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be 'Bearer' followed by one API key."
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        return self.authenticate_key(raw)

    def authenticate_key(self, raw: str) -> tuple[Any, ApiKey]:
        # The message is the same for every failure: it must not tell a guesser whether a
        # key exists, was revoked, or belongs to a disabled user.
        failure = exceptions.AuthenticationFailed("Invalid or revoked API key.")
        if not key_looks_valid(raw):
            raise failure
        key = key_with_user(hash_key(raw))
        if key is None or key.revoked_at is not None or not key.user.is_active:
            raise failure
        preload_permissions(key.user)
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return f'{KEYWORD} realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes the bearer scheme in the OpenAPI schema."""

    target_class = "services.accounts.auth.ApiKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key created with `manage.py create_api_token` or on the "
            "API keys page: `Authorization: Bearer <key>`.",
        }
