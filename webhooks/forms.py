"""Operator input for webhooks.  The URL and the event types are checked by the actions (the
outbound rule, the known types): a refusal comes back on the field it names."""

from __future__ import annotations

from django import forms

from webhooks.actions import DESCRIPTION_MAX_LENGTH
from webhooks.models import URL_MAX_LENGTH
from webhooks.payloads import EVENT_TYPES


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=URL_MAX_LENGTH,
        strip=True,
        widget=forms.URLInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Where the events are POSTed, e.g. https://hooks.example.com/backoffice. "
        "Its host must be listed in WEBHOOK_URL_ALLOWLIST.",
    )
    events = forms.MultipleChoiceField(
        label="Events",
        choices=[(name, name) for name in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event type."},
    )
    description = forms.CharField(
        label="Description",
        max_length=DESCRIPTION_MAX_LENGTH,
        required=False,
        help_text="What receives them, e.g. “ledger service (staging)”.",
    )
    active = forms.BooleanField(
        label="Active",
        required=False,
        initial=True,
        help_text="Only active webhooks receive events. Turning a disabled webhook on again "
        "restarts it.",
    )

    def event_descriptions(self) -> list[tuple[str, str, bool]]:
        """(name, description, checked) per event type, for the template's fieldset."""
        chosen = set(self["events"].value() or [])
        return [(name, text, name in chosen) for name, text in EVENT_TYPES.items()]
