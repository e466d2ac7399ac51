"""Changing one's password: the back-office's own page (not the admin's), its errors tied to
the fields, and the password changed only when the form is right."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a much longer new passphrase 2026"


def test_the_page_is_the_back_offices_own(viewer_client):
    response = viewer_client.get("/accounts/password_change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Change your password</h1>" in html
    assert 'class="sidebar"' in html  # base.html, not the admin's layout
    for field in ("id_old_password", "id_new_password1", "id_new_password2"):
        assert f'<label for="{field}">' in html


def test_a_wrong_old_password_is_named_and_changes_nothing(viewer_client, viewer):
    response = viewer_client.post(
        "/accounts/password_change/",
        {"old_password": "not it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "data-error-summary" in html
    assert 'id="id_old_password_error"' in html
    assert 'aria-describedby="id_old_password_error"' in html
    assert User.objects.get(pk=viewer.pk).check_password(PASSWORD)


def test_the_right_form_changes_the_password(viewer_client, viewer):
    response = viewer_client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_change/done/"
    assert User.objects.get(pk=viewer.pk).check_password(NEW_PASSWORD)
    done = viewer_client.get(response["Location"])
    assert done.status_code == 200
    assert "<h1>Password changed</h1>" in done.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/accounts/password_change/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
