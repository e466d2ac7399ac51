from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth.models import Group, User

from balances.models import Balance
from services.models import Service

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))
        if create:
            self.save()


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    name = factory.Sequence(lambda n: f"Service {n:03d}")
    country = "NG"


class BalanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Balance

    service = factory.SubFactory(ServiceFactory)
    currency = "EUR"
    available = Decimal("100.00")
    updated_by_label = "factory"
