"""Login throttling (django-axes, core/lockout.py): LOGIN_FAILURE_LIMIT failures per username or
per client IP lock every login form for the cool-off, right password or not; an admin unlocks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
GENERIC = "The username and password did not match. Try again."
LOCKED = "Too many failed login attempts"


def fail(client: Client, username: str, times: int, url: str = LOGIN):
    response = None
    for _ in range(times):
        response = client.post(url, {"username": username, "password": "wrong password"})
    return response


def test_ten_failures_lock_the_username_even_for_the_right_password(operator):
    client = Client(REMOTE_ADDR="10.1.0.1")
    for _ in range(9):
        response = client.post(LOGIN, {"username": operator.username, "password": "nope"})
        assert response.status_code == 200
        assert GENERIC in response.content.decode()

    tenth = fail(client, operator.username, 1)
    assert tenth.status_code == 429
    assert LOCKED in tenth.content.decode()

    right = client.post(LOGIN, {"username": operator.username, "password": PASSWORD})

    assert right.status_code == 429
    html = right.content.decode()
    assert LOCKED in html and "15 minutes" in html
    assert GENERIC not in html  # the lockout says why, not "wrong password"
    assert 'name="password"' in html  # the login page itself, not a blank one
    assert "_auth_user_id" not in client.session


def test_the_lock_follows_the_username_to_another_ip(operator):
    fail(Client(REMOTE_ADDR="10.1.0.2"), operator.username, 10)

    elsewhere = Client(REMOTE_ADDR="10.9.9.9")
    response = elsewhere.post(LOGIN, {"username": operator.username, "password": PASSWORD})

    assert response.status_code == 429


def test_an_ip_that_tries_many_usernames_is_locked(operator):
    guesser = Client(REMOTE_ADDR="10.1.0.3")
    for n in range(10):
        guesser.post(LOGIN, {"username": f"guess{n}", "password": "nope"})

    response = guesser.post(LOGIN, {"username": operator.username, "password": PASSWORD})

    assert response.status_code == 429
    # The user, from their own address, is not locked.
    own = Client(REMOTE_ADDR="10.1.0.4")
    assert own.post(LOGIN, {"username": operator.username, "password": PASSWORD}).status_code == 302


def test_the_admin_login_is_locked_too(superuser):
    client = Client(REMOTE_ADDR="10.1.0.5")
    fail(client, superuser.username, 10, url=ADMIN_LOGIN)

    response = client.post(
        ADMIN_LOGIN, {"username": superuser.username, "password": PASSWORD, "next": "/admin/"}
    )

    assert response.status_code == 429
    html = response.content.decode()
    assert LOCKED in html and 'name="password"' in html
    assert "_auth_user_id" not in client.session
    # One lock for both doors.
    assert (
        Client(REMOTE_ADDR="10.1.0.6")
        .post(LOGIN, {"username": superuser.username, "password": PASSWORD})
        .status_code
        == 429
    )


def test_axes_reset_unlocks(operator):
    client = Client(REMOTE_ADDR="10.1.0.7")
    fail(client, operator.username, 10)
    assert (
        client.post(LOGIN, {"username": operator.username, "password": PASSWORD}).status_code == 429
    )

    call_command("axes_reset_username", operator.username)
    call_command("axes_reset_ip", "10.1.0.7")

    response = client.post(LOGIN, {"username": operator.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(operator.pk)


def test_axes_reset_unlocks_everyone(operator):
    fail(Client(REMOTE_ADDR="10.1.0.8"), operator.username, 10)

    call_command("axes_reset")

    assert not AccessAttempt.objects.exists()
    client = Client(REMOTE_ADDR="10.1.0.8")
    assert (
        client.post(LOGIN, {"username": operator.username, "password": PASSWORD}).status_code == 302
    )


def test_an_admin_unlocks_by_deleting_the_access_attempt_in_the_admin(operator, superuser):
    fail(Client(REMOTE_ADDR="10.1.0.9"), operator.username, 10)
    attempt = AccessAttempt.objects.get(username=operator.username)
    admin = Client()
    admin.force_login(superuser)

    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and operator.username in listing.content.decode()
    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302

    client = Client(REMOTE_ADDR="10.1.0.9")
    assert (
        client.post(LOGIN, {"username": operator.username, "password": PASSWORD}).status_code == 302
    )


def test_the_lock_ends_after_the_cooloff(operator):
    client = Client(REMOTE_ADDR="10.1.0.10")
    fail(client, operator.username, 10)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )

    response = client.post(LOGIN, {"username": operator.username, "password": PASSWORD})

    assert response.status_code == 302


def test_failures_outside_the_window_do_not_count(settings, operator):
    settings.LOGIN_COOLOFF_MINUTES = 60  # a long lock, a short window
    settings.LOGIN_FAILURE_WINDOW_MINUTES = 5
    client = Client(REMOTE_ADDR="10.1.0.11")
    fail(client, operator.username, 9)
    attempt = AccessAttempt.objects.get()
    AccessAttempt.objects.update(attempt_time=attempt.attempt_time - timedelta(minutes=6))

    # The 10th failure starts a new count instead of locking.
    assert fail(client, operator.username, 1).status_code == 200
    assert (
        client.post(LOGIN, {"username": operator.username, "password": PASSWORD}).status_code == 302
    )


def test_a_lock_lasts_the_cooloff_even_past_the_window(settings, operator):
    settings.LOGIN_COOLOFF_MINUTES = 60
    settings.LOGIN_FAILURE_WINDOW_MINUTES = 5
    client = Client(REMOTE_ADDR="10.1.0.12")
    fail(client, operator.username, 10)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=30)
    )

    locked = client.post(LOGIN, {"username": operator.username, "password": PASSWORD})

    assert locked.status_code == 429
    assert "60 minutes" in locked.content.decode()


def test_attempts_during_the_lock_do_not_extend_it(operator):
    client = Client(REMOTE_ADDR="10.1.0.13")
    fail(client, operator.username, 10)
    locked_at = AccessAttempt.objects.get().attempt_time

    fail(client, operator.username, 5)

    attempt = AccessAttempt.objects.get()
    assert attempt.attempt_time == locked_at
    assert attempt.failures_since_start == 10


def test_passwords_and_csrf_tokens_are_never_stored_with_the_attempts(operator):
    Client(REMOTE_ADDR="10.1.0.14").post(
        LOGIN,
        {
            "username": operator.username,
            "password": "wrong password",
            "csrfmiddlewaretoken": "token-value-123",
        },
    )

    attempt = AccessAttempt.objects.get()
    assert "wrong password" not in attempt.post_data
    assert "token-value-123" not in attempt.post_data


def test_code_that_authenticates_without_a_request_still_works(operator):
    # Client.login() calls authenticate() without a request: no lockout check applies there.
    client = Client()
    assert client.login(username=operator.username, password=PASSWORD)
    assert client.get("/services/").status_code == 200


def test_a_successful_login_does_not_wipe_the_ips_failures(operator):
    # Otherwise an attacker with one valid account could reset the IP's count between guesses.
    attacker = UserFactory(username="mallory", role="viewer")
    client = Client(REMOTE_ADDR="10.1.0.15")
    fail(client, operator.username, 9)
    assert (
        client.post(LOGIN, {"username": attacker.username, "password": PASSWORD}).status_code == 302
    )
    client.post("/accounts/logout/")

    assert fail(client, operator.username, 1).status_code == 429
