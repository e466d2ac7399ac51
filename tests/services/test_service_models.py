"""Services: the public id that URLs and the API use instead of the primary key."""

from __future__ import annotations

import re

import pytest
from django.db import IntegrityError, transaction

from core.actors import Actor
from core.errors import ValidationFailed
from services import actions
from services.models import Service, new_service_id
from tests.factories import ServiceFactory

PUBLIC_ID = re.compile(r"^srv_[a-z0-9]{14}$")


def test_public_ids_are_srv_plus_random_letters_and_digits():
    ids = {new_service_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(PUBLIC_ID.match(i) for i in ids)
    # Random, not a sequence: letters and digits both turn up across the ids.
    tails = "".join(i[4:] for i in ids)
    assert re.search(r"[a-z]", tails) and re.search(r"[0-9]", tails)


@pytest.mark.django_db
def test_a_new_service_gets_a_public_id():
    service = ServiceFactory()
    service.refresh_from_db()
    assert PUBLIC_ID.match(service.public_id)
    assert str(service) == f"{service.name} ({service.public_id})"


def test_the_public_id_is_not_editable_in_forms():
    field = Service._meta.get_field("public_id")
    assert field.editable is False
    assert field.unique is True


@pytest.mark.django_db
def test_updating_a_service_keeps_its_public_id():
    service = ServiceFactory()
    original = service.public_id
    actions.service_update(
        service=service, actor=Actor.system(), name="Renamed", country="DE", status="closed"
    )
    service.refresh_from_db()
    assert service.public_id == original
    assert service.name == "Renamed"


@pytest.mark.django_db
def test_the_database_refuses_a_public_id_without_the_prefix():
    with pytest.raises(IntegrityError), transaction.atomic():
        Service.objects.create(name="Bad", country="NG", public_id="12345")


@pytest.mark.django_db
def test_the_database_refuses_a_duplicate_public_id():
    service = ServiceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Service.objects.create(name="Copy", country="NG", public_id=service.public_id)


@pytest.mark.django_db
def test_the_database_refuses_an_unknown_status():
    with pytest.raises(IntegrityError), transaction.atomic():
        Service.objects.create(name="Odd", country="NG", status="deleted")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": " ", "country": "NG"}, "name"),
        ({"name": "Ok", "country": "ZZ"}, "country"),
        ({"name": "Ok", "country": "NG", "status": "gone"}, "status"),
    ],
)
def test_create_validates_its_input(kwargs, field):
    with pytest.raises(ValidationFailed) as exc:
        actions.service_create(actor=Actor.system(), **kwargs)
    assert exc.value.field == field
    assert not Service.objects.exists()
