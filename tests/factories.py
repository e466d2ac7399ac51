"""factory_boy factories.  Rows that have actions (fee profiles and rules, provider
connections, payouts) are made through those actions, so that a test starts from what
production would hold: the audit entry, the version, the encrypted credentials, the hold on
the balance.  ``actor`` says who made them (the system by default)."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth.models import Group, User

from balances.connections.actions import connection_save
from balances.models import Balance
from core.actors import Actor
from payouts import actions as payout_actions
from payouts.models import Payout
from services.fees import actions as fee_actions
from services.models import FeeProfile, FeeRule, ProviderConnection, Service

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


# --- rows made by their actions -----------------------------------------------------------


class ActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    actor = factory.LazyFunction(lambda: Actor.system("factory"))

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError(f"{cls.__name__} makes its rows through the actions: use create().")


class FeeProfileFactory(ActionFactory):
    """Made by ``fee_profile_create``: version 1 and its audit entry.  ``rules`` is a list of
    rules as the action takes them (``{"operation": "payout", "currency": "EUR",
    "percentage": "1.5", ...}``)."""

    class Meta:
        model = FeeProfile

    name = factory.Sequence(lambda n: f"Profile {n:03d}")
    description = ""
    rules = factory.LazyFunction(list)

    @classmethod
    def _create(cls, model_class, *, actor, **kwargs):
        return fee_actions.fee_profile_create(actor=actor, **kwargs)


class FeeRuleFactory(ActionFactory):
    """Made by ``fee_rule_create``, which bumps the profile's version and audits the rule.
    The figures default to the action's own defaults (0 %, no fixed part, no bounds)."""

    class Meta:
        model = FeeRule

    profile = factory.SubFactory(FeeProfileFactory)
    operation = "payout"
    currency = "EUR"
    percentage = "0"
    fixed_amount = "0"
    minimum_fee = "0"
    maximum_fee = None
    minimum_payout_amount = None

    @classmethod
    def _create(cls, model_class, *, profile, actor, **fields):
        return fee_actions.fee_rule_create(profile=profile, actor=actor, **fields)


# Credentials and options each provider's connection needs (fake, never sent anywhere
# unless a test points ``base_url`` at its own server).
PROVIDER_CREDENTIALS = {
    "syncpay": {"apiKey": "sk_test_factory0123456789"},
    "finix": {"username": "USfactory", "password": "factory password"},
    "wise": {"apiToken": "wise-factory-token"},
    "payop": {"token": "payop-factory-jwt"},
}
PROVIDER_OPTIONS = {
    "finix": {"balanceIds": ["BLfactory"]},
    "wise": {"profileId": "12345"},
}


class ProviderConnectionFactory(ActionFactory):
    """Made by ``connection_save``: validated, credentials encrypted, audited.  Scheduling
    state given as extra fields (``paused_at``, ``consecutive_failures``, ``next_sync_at``,
    ...) is written afterwards, as the sync would."""

    class Meta:
        model = ProviderConnection

    service = factory.SubFactory(ServiceFactory)
    kind = "syncpay"
    base_url = ""
    credentials = factory.LazyAttribute(lambda o: dict(PROVIDER_CREDENTIALS[o.kind]))
    options = factory.LazyAttribute(lambda o: dict(PROVIDER_OPTIONS.get(o.kind, {})))
    create_missing_balances = False

    @classmethod
    def _create(cls, model_class, *, service, kind, actor, **fields):
        state = {
            name: fields.pop(name)
            for name in list(fields)
            if name not in ("base_url", "credentials", "options", "create_missing_balances")
        }
        connection = connection_save(service=service, kind=kind, actor=actor, **fields)
        if state:
            ProviderConnection.objects.filter(pk=connection.pk).update(**state)
            connection.refresh_from_db()
        return connection


# How a payout reaches each status from pending.
PAYOUT_PATHS = {
    Payout.Status.PENDING: (),
    Payout.Status.PROCESSING: (Payout.Status.PROCESSING,),
    Payout.Status.PAID: (Payout.Status.PROCESSING, Payout.Status.PAID),
    Payout.Status.FAILED: (Payout.Status.FAILED,),
    Payout.Status.CANCELED: (Payout.Status.CANCELED,),
}


class PayoutFactory(ActionFactory):
    """Made by ``payout_create``: priced by the service's fee profile, holding amount + fee
    on its balance (a service without a balance in ``currency`` gets one holding
    ``funds``); ``status`` is reached through the state machine (``paid`` debits)."""

    class Meta:
        model = Payout

    service = factory.SubFactory(ServiceFactory)
    currency = "EUR"
    amount = Decimal("100.00")
    destination = "IBAN DE89 3704 0044 0532 0130 00"
    idempotency_key = None
    status = Payout.Status.PENDING
    funds = Decimal("10000.00")

    @classmethod
    def _create(cls, model_class, *, service, currency, actor, status, funds, **fields):
        if not Balance.objects.filter(service=service, currency=currency).exists():
            BalanceFactory(service=service, currency=currency, available=funds)
        payout, _created = payout_actions.payout_create(
            service=service, currency=currency, actor=actor, **fields
        )
        for step in PAYOUT_PATHS[status]:
            payout = payout_actions.payout_transition(payout=payout, to_status=step, actor=actor)
        return payout
