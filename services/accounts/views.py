"""The signed-in user's own API keys: list, create (the key is shown once), revoke."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core.actors import Actor
from core.errors import DomainError
from core.forms import add_domain_error
from services.accounts.actions import NAME_MAX_LENGTH, api_key_create, api_key_revoke, api_keys_of
from services.accounts.queries import api_key_get


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_LENGTH,
        help_text="What will use the key, e.g. “reconciliation script”.",
    )
    read_only = forms.BooleanField(
        required=False,
        label="Read-only",
        help_text="The key can read but never change anything, whatever your role allows.",
    )


@never_cache  # the response that shows a new key must not be kept by any cache
@require_http_methods(["GET", "POST"])
@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """Who: any signed-in user, for their own keys.  A key acts with its owner's role."""
    form = ApiKeyForm(request.POST or None)
    new_key = raw_key = None
    if request.method == "POST" and form.is_valid():
        try:
            new_key, raw_key = api_key_create(
                user=request.user,
                name=form.cleaned_data["name"],
                read_only=form.cleaned_data["read_only"],
                actor=Actor.for_request(request),
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            form = ApiKeyForm()
    return render(
        request,
        "account/api_keys.html",
        {
            "form": form,
            "keys": api_keys_of(request.user),
            "new_key": new_key,
            "raw_key": raw_key,
        },
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@login_required
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    """Who: the key's owner.  GET asks for confirmation; POST revokes."""
    key = api_key_get(user=request.user, key_id=key_id)
    if request.method == "POST":
        api_key_revoke(user=request.user, key_id=key.pk, actor=Actor.for_request(request))
        messages.success(request, f"API key “{key.name}” ({key.prefix}…) revoked.")
        return redirect("account:api_keys")
    return render(request, "account/api_key_revoke.html", {"key": key})
