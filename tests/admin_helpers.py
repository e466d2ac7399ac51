"""Checks shared by the Django admin tests of every app."""

from __future__ import annotations

from django.contrib.admin.models import LogEntry
from django.db import models
from django.test import Client


def admin_url(obj_or_model, view: str = "changelist") -> str:
    """``/admin/<app>/<model>/`` plus ``add/`` or ``<pk>/<view>/``."""
    opts = obj_or_model._meta
    base = f"/admin/{opts.app_label}/{opts.model_name}/"
    if view == "changelist":
        return base
    if view == "add":
        return f"{base}add/"
    return f"{base}{obj_or_model.pk}/{view}/"


def assert_read_only_in_admin(client: Client, obj: models.Model, attempt: dict[str, str]) -> None:
    """``obj`` can be seen in the admin and nothing else: no add, no change, no delete (one
    by one or in bulk); every write is refused and leaves the row as it was."""
    model = type(obj)
    changelist = admin_url(model)
    before = model.objects.filter(pk=obj.pk).values().get()

    page = client.get(changelist)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="{admin_url(model, "add")}"' not in html
    assert "delete_selected" not in html

    detail = client.get(admin_url(obj, "change"))
    assert detail.status_code == 200  # viewable ...
    assert 'name="_save"' not in detail.content.decode()  # ... with nothing to save

    assert client.get(admin_url(model, "add")).status_code == 403
    assert client.post(admin_url(model, "add"), attempt).status_code == 403
    assert client.post(admin_url(obj, "change"), attempt).status_code == 403
    assert client.get(admin_url(obj, "delete")).status_code == 403
    assert client.post(admin_url(obj, "delete"), {"post": "yes"}).status_code == 403
    bulk = client.post(
        changelist, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)  # "no action selected", not a deletion

    assert model.objects.filter(pk=obj.pk).values().get() == before
    assert not LogEntry.objects.exists()
