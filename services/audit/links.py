"""Links from audit entries to their objects, for the audit log page.

An entry names its object by type and id; the page links to it while it still exists.  The
services layer cannot import the apps above it (balances, payouts, alerts, webhooks...), so
each app registers a resolver for its own object types in its ``AppConfig.ready``
(dependency inversion).  A resolver gets the page's entries of its type (service joined) and
answers ``{entry.pk: url}`` for those whose object still exists, in one query at most, so a
page costs one query per object type shown, whatever its length.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from django.urls import reverse

from services.models import AuditEntry, FeeProfile, FeeRule, ProviderConnection, Service

Resolver = Callable[[list[AuditEntry]], dict[int, str]]
_RESOLVERS: dict[str, Resolver] = {}


def register(object_type: str, resolver: Resolver) -> None:
    _RESOLVERS[object_type] = resolver


def object_types() -> list[str]:
    """Every object type an entry may name (those with a resolver, and those without)."""
    return sorted({*_RESOLVERS, *KNOWN_TYPES})


def links_for(entries: Iterable[AuditEntry]) -> dict[int, str]:
    by_type: dict[str, list[AuditEntry]] = defaultdict(list)
    for entry in entries:
        if entry.object_type in _RESOLVERS and entry.object_id:
            by_type[entry.object_type].append(entry)
    links: dict[int, str] = {}
    for object_type, group in by_type.items():
        links.update(_RESOLVERS[object_type](group))
    return links


KNOWN_TYPES = (
    "service",
    "connection",
    "fee_profile",
    "fee_rule",
    "balance",
    "payout",
    "api_key",
    "alert_rule",
    "webhook",
    "approval",
    "approval_policy",
)


def _services(entries: list[AuditEntry]) -> dict[int, str]:
    alive = set(
        Service.objects.filter(public_id__in={e.object_id for e in entries}).values_list(
            "public_id", flat=True
        )
    )
    return {
        e.pk: reverse("services:detail", args=[e.object_id])
        for e in entries
        if e.object_id in alive
    }


def _connections(entries: list[AuditEntry]) -> dict[int, str]:
    alive = set(
        ProviderConnection.objects.filter(
            service__public_id__in={e.object_id for e in entries}
        ).values_list("service__public_id", flat=True)
    )
    return {
        e.pk: reverse("provider:edit", args=[e.object_id]) for e in entries if e.object_id in alive
    }


def _fee_profiles(entries: list[AuditEntry]) -> dict[int, str]:
    ids = {int(e.object_id) for e in entries if e.object_id.isdigit()}
    alive = {str(pk) for pk in FeeProfile.objects.filter(pk__in=ids).values_list("pk", flat=True)}
    return {
        e.pk: reverse("fee_profiles:detail", args=[int(e.object_id)])
        for e in entries
        if e.object_id in alive
    }


def _fee_rules(entries: list[AuditEntry]) -> dict[int, str]:
    ids = {int(e.object_id) for e in entries if e.object_id.isdigit()}
    alive = dict(FeeRule.objects.filter(pk__in=ids).values_list("pk", "profile_id"))
    return {
        e.pk: reverse("fee_profiles:rule_edit", args=[alive[int(e.object_id)], int(e.object_id)])
        for e in entries
        if e.object_id.isdigit() and int(e.object_id) in alive
    }


register("service", _services)
register("connection", _connections)
register("fee_profile", _fee_profiles)
register("fee_rule", _fee_rules)
