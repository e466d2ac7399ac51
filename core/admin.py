"""What every app's Django admin shares: read-only model admins, and model admins that save
and delete through the app's actions (so the admin keeps the same rules, audit trail and
versions as the pages and the API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models, router, transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from core.actors import Actor
from core.errors import DomainError, StaleVersion
from core.forms import add_domain_error

# Where a refused save waits for the second rendering of the form (see changeform_view).
_REFUSED = "_admin_refused_by_action"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Readable in the admin, never added, changed or deleted there (history is append-only;
    other rows change only through the actions, which keep their history, versions and
    locks).  Every field is shown read-only and a POST that would write is a 403."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ActionAdmin(admin.ModelAdmin):
    """A model admin whose writes are the app's actions.

    Subclasses implement ``save_model`` and ``delete_model`` by calling the actions with
    ``self.actor(request)`` (then ``adopt`` the saved row), and ``deletion_blockers`` with
    the action's own reasons.  A ``DomainError`` from an action rolls the whole request back
    and is shown on the form (on the field it names, else above the form), or as an error
    message for deletes; it is never a 500.  Bulk deletion goes through ``delete_model`` for
    each row, all or nothing.
    """

    def actor(self, request: HttpRequest) -> Actor:
        return Actor.for_request(request)

    def deletion_blockers(self, obj: Any) -> list[str]:
        """Why the action would refuse to delete ``obj`` (empty when it would not)."""
        return []

    @staticmethod
    def adopt(obj: models.Model, saved: models.Model) -> None:
        """Make the admin's in-memory ``obj`` the row the action saved: the admin goes on
        with ``obj`` (its log entry, the redirect to its page)."""
        for field in saved._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    # --- add and change ---------------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            if request.method != "POST":
                raise
            # The action refused inside the view's transaction, which is rolled back now.
            # Render the form again with the refusal as a form error: the second pass
            # validates the same input, finds the error and saves nothing.
            setattr(request, _REFUSED, exc)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        refused: DomainError | None = getattr(request, _REFUSED, None)
        if refused is None:
            return form_class
        return _form_showing(form_class, refused)

    # --- delete -----------------------------------------------------------------------

    def get_deleted_objects(self, objs, request):
        deleted, model_count, _perms_needed, protected = super().get_deleted_objects(objs, request)
        # The action decides what may go (and deletes what goes with it): its reasons are
        # the ones shown, and the admin permissions of related rows do not apply.
        blockers = [f"{obj}: {reason}" for obj in objs for reason in self.deletion_blockers(obj)]
        return deleted, model_count, set(), blockers or protected

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            info = (self.opts.app_label, self.opts.model_name)
            return HttpResponseRedirect(
                reverse(f"admin:{info[0]}_{info[1]}_change", args=[object_id])
            )

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        entry = actions.get("delete_selected")
        if entry is not None:
            func, name, description = entry
            actions["delete_selected"] = (self._all_or_nothing(func), name, description)
        return actions

    def _all_or_nothing(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(modeladmin, request, queryset):
            try:
                with transaction.atomic(using=router.db_for_write(self.model)):
                    return func(modeladmin, request, queryset)
            except DomainError as exc:
                self.message_user(request, f"Nothing was deleted: {exc.message}", messages.ERROR)
                return None

        guarded.__name__ = getattr(func, "__name__", "delete_selected")
        return guarded


def _form_showing(form_class: type[forms.BaseForm], refused: DomainError) -> type[forms.BaseForm]:
    """``form_class`` that shows the action's refusal: on the field it names, else above the
    form (so it is never valid, and the admin saves nothing)."""

    current = refused.current if isinstance(refused, StaleVersion) else None
    version = getattr(current, "version", None)

    class RefusedForm(form_class):  # type: ignore[valid-type,misc]
        def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
            if data is not None and version is not None and "expected_version" in self.base_fields:
                # The next save is based on what is there now (as on the pages).
                data = data.copy()
                data["expected_version"] = str(version)
            super().__init__(data, *args, **kwargs)

        def _post_clean(self) -> None:
            super()._post_clean()
            add_domain_error(self, refused)

    RefusedForm.__name__ = form_class.__name__
    return RefusedForm
