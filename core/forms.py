"""Form helpers every app shares."""

from __future__ import annotations

from django import forms

from core.errors import DomainError


class DescribedErrorsForm(forms.Form):
    """Ties each field's error (and help text) to its input for screen readers: the ids are
    the ones partials/field.html gives them (Django's own ``<auto_id>_error`` and
    ``<auto_id>_helptext``), and the input is marked invalid."""

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                auto_id = self[name].auto_id
                described = [f"{auto_id}_error"]
                if self.fields[name].help_text:
                    described.insert(0, f"{auto_id}_helptext")
                self.fields[name].widget.attrs["aria-describedby"] = " ".join(described)
                self.fields[name].widget.attrs["aria-invalid"] = "true"


def add_domain_error(form: forms.Form, exc: DomainError) -> int:
    """Show an action's error on the form: on the field it names when the form has that
    field, else above the form.  Returns the error's HTTP status for the page."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return exc.http_status
