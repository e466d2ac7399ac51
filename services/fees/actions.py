"""Writes to fee profiles and their rules, each one transaction with its audit entry.

Every write locks the profile row and bumps ``FeeProfile.version``, so that an edit based on
an old reading is refused (``expected_version``) instead of silently overwriting a colleague's
change, and so that a payout created concurrently sees either the old rules or the new ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from core.actors import Actor
from core.errors import AlreadyExists, NotAllowed, NotFound, StaleVersion, ValidationFailed
from services.actions import audit, clean_name, service_update
from services.fees.formula import RuleInput, clean_rule, plain_figure
from services.models import FeeProfile, FeeRule, Service

NAME_MAX_LENGTH = 120
DESCRIPTION_MAX_LENGTH = 2000


# --- validation ---------------------------------------------------------------------------


def _clean_name(raw: object) -> str:
    return clean_name(raw, max_length=NAME_MAX_LENGTH, missing="Give the fee profile a name.")


def _clean_description(raw: object) -> str:
    text = str(raw or "").strip()
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise ValidationFailed(
            f"Keep the description under {DESCRIPTION_MAX_LENGTH} characters.", field="description"
        )
    return text


# --- helpers ------------------------------------------------------------------------------


def _lock(profile: FeeProfile, expected_version: int | None) -> FeeProfile:
    locked = FeeProfile.objects.select_for_update().get(pk=profile.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(
            f"Fee profile {locked.name} was changed by someone else after you opened it. "
            "Nothing was overwritten: review it and try again.",
            current=locked,
            details={"currentVersion": locked.version},
        )
    return locked


def _bump(profile: FeeProfile) -> None:
    FeeProfile.objects.filter(pk=profile.pk).update(version=F("version") + 1)
    profile.refresh_from_db(fields=["version", "updated_at"])


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.normalize():f}"


def rule_snapshot(rule: FeeRule | RuleInput) -> dict[str, Any]:
    """JSON-ready figures of a rule, for the audit trail: amounts with the rule currency's
    digits ("0.50" EUR, "0.00000000" USDT_TRC20), as entered for "any currency"."""

    def amount(value: Decimal | None) -> str | None:
        return None if value is None else plain_figure(value, rule.currency)

    return {
        "operation": rule.operation,
        "currency": rule.currency or "any",
        "percentage": _plain(rule.percentage),
        "fixed_amount": amount(rule.fixed_amount),
        "minimum_fee": amount(rule.minimum_fee),
        "maximum_fee": amount(rule.maximum_fee),
        "minimum_payout_amount": amount(rule.minimum_payout_amount),
    }


def _rule_label(rule: FeeRule | RuleInput) -> str:
    return f"{rule.operation} {rule.currency or 'any currency'}"


def _insert_rule(profile: FeeProfile, data: RuleInput) -> FeeRule:
    try:
        with transaction.atomic():
            return FeeRule.objects.create(profile=profile, **asdict(data))
    except IntegrityError:
        raise AlreadyExists(
            f"{profile.name} already has a {_rule_label(data)} rule; edit that one.",
            field="currency",
        ) from None


def _replace_rules(profile: FeeProfile, rules: Iterable[Mapping[str, Any]]) -> list[RuleInput]:
    cleaned = [clean_rule(**dict(raw)) for raw in rules]
    scopes = [(r.operation, r.currency) for r in cleaned]
    if len(scopes) != len(set(scopes)):
        raise ValidationFailed(
            "Two rules have the same operation and currency; keep one of each.", field="rules"
        )
    profile.rules.all().delete()
    for data in cleaned:
        _insert_rule(profile, data)
    return cleaned


# --- profiles -----------------------------------------------------------------------------


@transaction.atomic
def fee_profile_create(
    *,
    name: str,
    actor: Actor,
    description: str = "",
    rules: Iterable[Mapping[str, Any]] = (),
) -> FeeProfile:
    clean = _clean_name(name)
    if FeeProfile.objects.filter(name__iexact=clean).exists():
        raise AlreadyExists(f"A fee profile named {clean} already exists.", field="name")
    try:
        with transaction.atomic():
            profile = FeeProfile.objects.create(
                name=clean, description=_clean_description(description)
            )
    except IntegrityError:
        raise AlreadyExists(f"A fee profile named {clean} already exists.", field="name") from None
    cleaned = _replace_rules(profile, rules)
    audit(
        actor=actor,
        action="fee_profile_created",
        subject=f"fee profile {profile.name}",
        fee_profile=profile,
        object_type="fee_profile",
        object_id=str(profile.pk),
        changes={
            "name": profile.name,
            "description": profile.description,
            **({"rules": [rule_snapshot(r) for r in cleaned]} if cleaned else {}),
        },
    )
    return profile


@transaction.atomic
def fee_profile_update(
    *,
    profile: FeeProfile,
    actor: Actor,
    name: str | None = None,
    description: str | None = None,
    rules: Iterable[Mapping[str, Any]] | None = None,
    expected_version: int | None = None,
) -> FeeProfile:
    """Change the given fields (``None`` leaves one alone); ``rules`` replaces all rules."""
    profile = _lock(profile, expected_version)
    changes: dict[str, Any] = {}
    if name is not None:
        clean = _clean_name(name)
        if clean != profile.name:
            if FeeProfile.objects.filter(name__iexact=clean).exclude(pk=profile.pk).exists():
                raise AlreadyExists(f"A fee profile named {clean} already exists.", field="name")
            changes["name"] = [profile.name, clean]
            profile.name = clean
    if description is not None:
        text = _clean_description(description)
        if text != profile.description:
            changes["description"] = [profile.description, text]
            profile.description = text
    if rules is not None:
        before = [rule_snapshot(r) for r in profile.rules.all()]
        after = [rule_snapshot(r) for r in _replace_rules(profile, rules)]
        if sorted(before, key=str) != sorted(after, key=str):
            changes["rules"] = [before, after]
    if not changes:
        return profile
    try:
        with transaction.atomic():
            profile.save(update_fields=["name", "description", "updated_at"])
    except IntegrityError:
        raise AlreadyExists(
            f"A fee profile named {profile.name} already exists.", field="name"
        ) from None
    _bump(profile)
    audit(
        actor=actor,
        action="fee_profile_updated",
        subject=f"fee profile {profile.name}",
        fee_profile=profile,
        object_type="fee_profile",
        object_id=str(profile.pk),
        changes=changes,
    )
    return profile


def services_using(profile: FeeProfile) -> list[Service]:
    return list(Service.objects.filter(fee_profile=profile).order_by("name", "id"))


def deletion_blockers(profile: FeeProfile, *, users: list[Service] | None = None) -> list[str]:
    """Why ``profile`` cannot be deleted now (empty when it can).  ``users``: its
    ``services_using``, when the caller has read them already."""
    if users is None:
        users = services_using(profile)
    if not users:
        return []
    names = ", ".join(f"{s.name} ({s.public_id})" for s in users)
    count = len(users)
    return [f"it is used by {count} service{'s' if count != 1 else ''}: {names}"]


@transaction.atomic
def fee_profile_delete(
    *, profile: FeeProfile, actor: Actor, expected_version: int | None = None
) -> None:
    profile = _lock(profile, expected_version)
    users = services_using(profile)
    if users:
        raise NotAllowed(
            f"Fee profile {profile.name} cannot be deleted: "
            f"{deletion_blockers(profile, users=users)[0]}. "
            "Give them another profile first.",
            details={"services": [s.public_id for s in users]},
            code="in_use",
        )
    audit(
        actor=actor,
        action="fee_profile_deleted",
        subject=f"fee profile {profile.name}",
        fee_profile=profile,
        object_type="fee_profile",
        object_id=str(profile.pk),
        changes={
            "name": profile.name,
            "rules": [rule_snapshot(r) for r in profile.rules.all()],
        },
    )
    # No assignment can slip in between the check and the delete: service_fee_profile_set
    # locks the profile row too.
    profile.delete()


# --- rules --------------------------------------------------------------------------------


@transaction.atomic
def fee_rule_create(
    *,
    profile: FeeProfile,
    actor: Actor,
    expected_version: int | None = None,
    **fields: Any,
) -> FeeRule:
    """``fields`` are those of :func:`services.fees.formula.clean_rule`."""
    profile = _lock(profile, expected_version)
    data = clean_rule(**fields)
    rule = _insert_rule(profile, data)
    _bump(profile)
    audit(
        actor=actor,
        action="fee_rule_added",
        subject=f"fee profile {profile.name}",
        fee_profile=profile,
        object_type="fee_rule",
        object_id=str(rule.pk),
        changes=rule_snapshot(rule),
    )
    return rule


@transaction.atomic
def fee_rule_update(
    *,
    rule: FeeRule,
    actor: Actor,
    expected_version: int | None = None,
    **fields: Any,
) -> FeeRule:
    """Replace the rule's figures (and scope) with ``fields``, those of
    :func:`services.fees.formula.clean_rule`."""
    profile = _lock(rule.profile, expected_version)
    rule = FeeRule.objects.select_for_update().get(pk=rule.pk)
    data = clean_rule(**fields)
    before = rule_snapshot(rule)
    after = rule_snapshot(data)
    if before == after:
        return rule
    for field, value in asdict(data).items():
        setattr(rule, field, value)
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        raise AlreadyExists(
            f"{profile.name} already has a {_rule_label(data)} rule; edit that one.",
            field="currency",
        ) from None
    _bump(profile)
    audit(
        actor=actor,
        action="fee_rule_changed",
        subject=f"fee profile {profile.name}",
        fee_profile=profile,
        object_type="fee_rule",
        object_id=str(rule.pk),
        changes={k: [before[k], after[k]] for k in after if before[k] != after[k]},
    )
    return rule


@transaction.atomic
def fee_rule_delete(*, rule: FeeRule, actor: Actor, expected_version: int | None = None) -> None:
    profile = _lock(rule.profile, expected_version)
    snapshot = rule_snapshot(rule)
    rule_id = rule.pk
    FeeRule.objects.filter(pk=rule.pk).delete()
    _bump(profile)
    audit(
        actor=actor,
        action="fee_rule_deleted",
        subject=f"fee profile {profile.name}",
        fee_profile=profile,
        object_type="fee_rule",
        object_id=str(rule_id),
        changes=snapshot,
    )


# --- assignment ---------------------------------------------------------------------------


@transaction.atomic
def service_fee_profile_set(
    *, service: Service, profile: FeeProfile | None, actor: Actor
) -> Service:
    """Give ``service`` a fee profile (``None``: platform defaults).  The service's audit
    trail records it (service_update); the profiles' trails say which service came and went."""
    old = Service.objects.select_for_update().get(pk=service.pk).fee_profile
    if old == profile:
        return service
    if profile is not None:
        # Serialises with fee_profile_delete, which refuses while a service uses the profile.
        try:
            profile = FeeProfile.objects.select_for_update().get(pk=profile.pk)
        except FeeProfile.DoesNotExist:
            raise NotFound("That fee profile no longer exists.", field="fee_profile") from None
    service = service_update(service=service, actor=actor, fee_profile=profile)
    subject = f"{service.name} ({service.public_id})"
    if old is not None:
        audit(
            actor=actor,
            action="service_unassigned",
            subject=f"fee profile {old.name}",
            fee_profile=old,
            object_type="fee_profile",
            object_id=str(old.pk),
            changes={"service": subject},
        )
    if profile is not None:
        audit(
            actor=actor,
            action="service_assigned",
            subject=f"fee profile {profile.name}",
            fee_profile=profile,
            object_type="fee_profile",
            object_id=str(profile.pk),
            changes={"service": subject},
        )
    return service
