"""Reads of fee profiles and rules, shared by the pages and the API."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from core.errors import NotFound
from services.models import FeeProfile, FeeRule, Service


def fee_profiles() -> QuerySet[FeeProfile]:
    """Profiles with their rules and the ids of the services using them (3 queries for any
    number of profiles)."""
    return FeeProfile.objects.order_by("name", "id").prefetch_related(
        "rules",
        Prefetch("services", queryset=Service.objects.only("id", "public_id", "fee_profile_id")),
    )


def fee_profile_get(pk: int) -> FeeProfile:
    """One profile, its rules and services prefetched; ``NotFound`` otherwise."""
    profile = fee_profiles().filter(pk=pk).first()
    if profile is None:
        raise NotFound(f"There is no fee profile with id {pk}.")
    return profile


def fee_rule_get(*, profile: FeeProfile, rule_id: int) -> FeeRule:
    rule = FeeRule.objects.select_related("profile").filter(pk=rule_id, profile=profile).first()
    if rule is None:
        raise NotFound(f"Fee profile {profile.pk} has no rule {rule_id}.")
    return rule
