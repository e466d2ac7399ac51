"""Filters of the audit log, page and API alike (``core.filters``)."""

from __future__ import annotations

from django import forms

from core.filters import LogFilterForm
from services.audit.links import object_types


class AuditFilterForm(LogFilterForm):
    actor = forms.CharField(required=False, max_length=150, label="Actor")
    objectType = forms.ChoiceField(required=False, label="Object type")
    objectId = forms.CharField(required=False, max_length=64, label="Object id")
    action = forms.CharField(required=False, max_length=32, label="Action")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["objectType"].choices = [
            ("", "Any"),
            *((name, name.replace("_", " ").capitalize()) for name in object_types()),
        ]

    def field_order_after_dates(self) -> list[str]:
        return ["actor", "objectType", "objectId", "action"]
