"""Reads of approvals, shared by pages and the API."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone

from approvals.actions import PENDING_COUNT_KEY
from approvals.models import ApprovalPolicy, ApprovalRequest
from approvals.policy import Rules, platform_defaults, rules_of
from core.errors import NotFound

logger = logging.getLogger(__name__)


def pending_count() -> int:
    """Requests waiting, for the navigation's badge: read from the cache the writes and the
    periodic task keep current, so that no page pays a query for it (0 until first counted)."""
    try:
        value = cache.get(PENDING_COUNT_KEY)
    except Exception:
        logger.warning("The pending approvals count could not be read from the cache.")
        return 0
    return value if isinstance(value, int) else 0


def approvals_list(
    *,
    status: str = "",
    kind: str = "",
    currency: str = "",
    service: str = "",
    requester: str = "",
) -> QuerySet[ApprovalRequest]:
    """Newest first, each with its service (one query per page)."""
    qs = ApprovalRequest.objects.select_related("service").order_by("-requested_at", "-id")
    if status:
        qs = qs.filter(status_filter(status))
    filters: dict[str, Any] = {}
    if kind:
        filters["kind"] = kind
    if currency:
        filters["currency"] = currency
    if service:
        filters["service__public_id"] = service
    if requester:
        filters["requested_by_label"] = requester
    return qs.filter(**filters)


def status_filter(status: str) -> Q:
    """A request past its time is expired even before the periodic task marks it: it can no
    longer be approved, so it is never listed as pending."""
    now = timezone.now()
    S = ApprovalRequest.Status
    if status == S.PENDING:
        return Q(status=S.PENDING, expires_at__gt=now)
    if status == S.EXPIRED:
        return Q(status=S.EXPIRED) | Q(status=S.PENDING, expires_at__lte=now)
    return Q(status=status)


def shown_status(approval: ApprovalRequest) -> str:
    """The status as the lists show it (see :func:`status_filter`)."""
    if approval.is_overdue():
        return ApprovalRequest.Status.EXPIRED
    return approval.status


def approval_get(public_id: str) -> ApprovalRequest:
    found = (
        ApprovalRequest.objects.select_related("service").filter(public_id=str(public_id)).first()
    )
    if found is None:
        raise NotFound(f"There is no approval request {public_id}.")
    return found


def approval_for_payout(payout_public_id: str) -> ApprovalRequest | None:
    return (
        ApprovalRequest.objects.select_related("service")
        .filter(kind=ApprovalRequest.Kind.PAYOUT, payout_public_id=payout_public_id)
        .first()
    )


def requester_choices() -> list[str]:
    return list(
        ApprovalRequest.objects.order_by("requested_by_label")
        .values_list("requested_by_label", flat=True)
        .distinct()
    )


def policy_rules(currency: str) -> Rules:
    """The rules in force for ``currency``, saying where they come from."""
    policy = ApprovalPolicy.objects.filter(currency=currency).first()
    if policy is not None:
        return rules_of(policy)
    return platform_defaults().get(currency) or Rules(currency=currency)


def policies_overview() -> list[tuple[Rules, ApprovalPolicy | None]]:
    """Every currency with a stored policy or a platform default, by code (one query)."""
    stored = {p.currency: p for p in ApprovalPolicy.objects.select_related("updated_by")}
    defaults = platform_defaults()
    rows = []
    for code in sorted(set(stored) | set(defaults)):
        policy = stored.get(code)
        rows.append((rules_of(policy) if policy else defaults[code], policy))
    return rows
