"""Form helpers every app shares."""

from __future__ import annotations

from django import forms

from core.errors import DomainError


def add_domain_error(form: forms.Form, exc: DomainError) -> int:
    """Show an action's error on the form: on the field it names when the form has that
    field, else above the form.  Returns the error's HTTP status for the page."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return exc.http_status
