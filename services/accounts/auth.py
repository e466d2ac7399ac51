"""``Authorization: Bearer <key>`` authentication with the users' API keys.

Only the key's SHA-256 is stored, so a lookup is one indexed query on ``key_hash``.  A request
without an ``Authorization`` header falls through to session authentication (the browsable
API); a header that is present but wrong is a 401 straight away, never a silent fallback.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from core.api.auth import preload_permissions
from services.accounts.actions import hash_key, key_looks_valid
from services.models import ApiKey

# Recording every use would turn each read into a write; once a minute is precise enough
# for "last used" and costs one UPDATE per key per minute at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)
KEYWORD = "Bearer"


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
        digest = hash_key(raw)
        try:
            key = ApiKey.objects.select_related("user").get(key_hash=digest)
        except ApiKey.DoesNotExist:
            raise failure from None
        if key.revoked_at is not None or not key.user.is_active:
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
