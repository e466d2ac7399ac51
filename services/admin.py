"""The Django admin for services, fee profiles and the audit trail.

Services and fee profiles are saved and deleted through their actions (validation, audit
entry, version); the audit trail is read-only.  Provider connections are registered by
balances, which owns their actions."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html_join

from core.admin import ActionAdmin, ReadOnlyAdmin
from services import actions
from services.fees import actions as fee_actions
from services.fees.formula import describe_rule
from services.models import AuditEntry, FeeProfile, Service


@admin.register(Service)
class ServiceAdmin(ActionAdmin):
    list_display = ("public_id", "name", "status", "country", "fee_profile", "updated_at")
    list_filter = ("status", "country")
    search_fields = ("public_id", "name")
    fields = ("public_id", "name", "status", "country", "fee_profile", "created_at", "updated_at")
    readonly_fields = ("public_id", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        actor = self.actor(request)
        data = form.cleaned_data
        if change:
            saved = actions.service_update(
                service=obj,
                actor=actor,
                name=data["name"],
                country=data["country"],
                status=data["status"],
            )
        else:
            saved = actions.service_create(
                name=data["name"], country=data["country"], status=data["status"], actor=actor
            )
        # Through the fee profile's action: it locks the profile and writes the profiles'
        # side of the audit trail too.
        saved = fee_actions.service_fee_profile_set(
            service=saved, profile=data.get("fee_profile"), actor=actor
        )
        self.adopt(obj, saved)

    def delete_model(self, request, obj):
        actions.service_delete(service=obj, actor=self.actor(request))

    def deletion_blockers(self, obj):
        return actions.deletion_blockers(obj)


class FeeProfileAdminForm(forms.ModelForm):
    # The version the admin read, so that a save based on an old reading is refused
    # instead of overwriting a colleague's change (as on the fee profile pages).
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = FeeProfile
        fields = ("name", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["expected_version"].initial = self.instance.version


@admin.register(FeeProfile)
class FeeProfileAdmin(ActionAdmin):
    """Name and description are edited here; the rules are shown, and edited on the fee
    profile's page."""

    form = FeeProfileAdminForm
    list_display = ("name", "version", "updated_at")
    search_fields = ("name",)
    fields = (
        "name",
        "description",
        "expected_version",
        "version",
        "rule_list",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("version", "rule_list", "created_at", "updated_at")

    @admin.display(description="rules")
    def rule_list(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        rows = [(rule, describe_rule(rule)) for rule in obj.rules.all()]
        if not rows:
            return "No rules: platform defaults apply."
        return format_html_join("\n", "<div>{}: {}</div>", rows)

    def save_model(self, request, obj, form, change):
        actor = self.actor(request)
        data = form.cleaned_data
        if change:
            saved = fee_actions.fee_profile_update(
                profile=obj,
                actor=actor,
                name=data["name"],
                description=data["description"],
                expected_version=data.get("expected_version"),
            )
        else:
            saved = fee_actions.fee_profile_create(
                name=data["name"], description=data["description"], actor=actor
            )
        self.adopt(obj, saved)

    def delete_model(self, request, obj):
        fee_actions.fee_profile_delete(profile=obj, actor=self.actor(request))

    def deletion_blockers(self, obj):
        return fee_actions.deletion_blockers(obj)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The whole log, as /audit/ shows it: for those who may read the audit log (admins),
    not for every role that sees a service's own history."""

    list_display = ("created_at", "action", "subject", "actor_label")
    list_filter = ("action",)
    search_fields = ("subject", "actor_label", "service__public_id")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("services.view_audit_log")
