"""The API's permission check: the same Django permissions as the pages, declared per HTTP
method on each view, plus the read-only flag of API keys.

    class BalanceDetail(ApiView):
        required_perms = {"GET": ("balances.view_balance",), "PATCH": ("balances.change_balance",)}

A method without an entry needs no permission beyond being signed in (DRF then answers 405
for methods the view does not implement).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from core.api.auth import api_key_of


def required_perms_for(view: Any, method: str) -> tuple[str, ...]:
    perms: dict[str, tuple[str, ...]] = getattr(view, "required_perms", {})
    if method in ("HEAD", "OPTIONS"):
        method = "GET"
    return tuple(perms.get(method, ()))


class HasRolePermission(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            raise exceptions.NotAuthenticated(
                "Authentication required: send 'Authorization: Bearer <API key>'."
            )
        key = api_key_of(request)
        if key is not None and key.read_only and self.writes(request):
            raise exceptions.PermissionDenied(
                "This API key is read-only; use a read-write key to make changes.",
                code="read_only_key",
            )
        perms = self.perms_for(request, view)
        if perms and not user.has_perms(perms):
            raise exceptions.PermissionDenied(
                "Your role does not allow this.", code="permission_denied"
            )
        return True

    def writes(self, request: Request) -> bool:
        """Whether the request may change anything (a read-only key may not send it)."""
        return request.method not in SAFE_METHODS

    def perms_for(self, request: Request, view: Any) -> tuple[str, ...]:
        return required_perms_for(view, request.method or "GET")
