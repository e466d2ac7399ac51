from __future__ import annotations

from django import forms

from services.countries import country_choices
from services.models import Service


class ServiceForm(forms.Form):
    name = forms.CharField(max_length=200)
    country = forms.ChoiceField(choices=[])
    status = forms.ChoiceField(choices=Service.Status.choices, initial=Service.Status.ACTIVE)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = [("", "Choose a country…"), *country_choices()]


class ServiceSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
