"""Template helpers for accessible pages.

* ``{{ form|error_count }}``: how many lines the error summary (partials/form_errors.html)
  lists: each non-field error, one line per visible field with errors, each hidden field's
  error.
"""

from __future__ import annotations

from django import forms, template

register = template.Library()


@register.filter
def error_count(form: forms.BaseForm) -> int:
    count = len(form.non_field_errors())
    for field in form:
        if field.errors:
            count += len(field.errors) if field.is_hidden else 1
    return count
