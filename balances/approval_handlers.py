"""What approval requests of kinds ``balance_update`` and ``balance_delete`` mean
(registered in BalancesConfig.ready).

Approving applies the change with the rules of a direct change, in the approving
transaction, under the balance's lock: the balance must still be at the version the
request was made against (no lost update: another edit, a sync or a payout since then
refuses it with what the balance is now), and the holds and deletion checks apply again.
The history entry names the requester as the actor and the approver and request beside.

Deciding or renewing a request locks the balance before the request (``lock_first``), as
every balance writer does: deleting a balance closes its pending requests under its lock.
"""

from __future__ import annotations

from contextlib import suppress
from decimal import Decimal

from django.urls import reverse

from approvals.actions import lock_object_first
from approvals.registry import Description, Handler, register
from balances.actions.balance import (
    check_deletable,
    check_holds,
    lock_balance,
    write_delete,
    write_update,
)
from balances.models import Balance, BalanceChange
from core.actors import Actor, ActorType
from core.errors import Conflict, NotFound
from core.money import currencies

HISTORY_SHOWN = 10


def requester_of(request) -> Actor:
    return Actor(
        type=ActorType.USER,
        label=request.requested_by_label,
        user=request.requested_by,
        via=request.requested_via,
    )


def _moved(request, balance: Balance | None) -> Conflict:
    if balance is None:
        return Conflict(
            f"The {request.currency} balance no longer exists; reject this request.",
            code="balance_moved",
            details={"requestVersion": request.balance_version, "currentVersion": None},
        )
    code = balance.currency
    shown = currencies.format_amount(balance.available, code)
    return Conflict(
        f"The {code} balance changed since this request was made (by "
        f"{balance.updated_by_label or 'someone else'}): it is now {shown} {code} "
        f"(version {balance.version}, the request was made at version "
        f"{request.balance_version}). Nothing was applied: reject or renew the request.",
        code="balance_moved",
        details={
            "requestVersion": request.balance_version,
            "currentVersion": balance.version,
            "currentAmount": Decimal(currencies.plain_amount(balance.available, code)),
        },
    )


def _locked_at_version(request) -> Balance:
    try:
        balance = lock_balance(request.service, request.currency)
    except NotFound:
        raise _moved(request, None) from None
    if balance.version != request.balance_version:
        raise _moved(request, balance)
    return balance


def lock_first(request) -> None:
    """The request's balance, locked (before the request: approvals.actions); nothing when
    it no longer exists (``apply`` and ``renew`` then refuse with why)."""
    with suppress(NotFound):
        lock_balance(request.service, request.currency)


def apply_update(request, approver: Actor) -> None:
    balance = _locked_at_version(request)
    check_holds(balance, request.proposed_value)
    write_update(
        service=request.service,
        balance=balance,
        value=request.proposed_value,
        note=request.reason,
        actor=requester_of(request),
        approved=(request, approver),
    )


def apply_delete(request, approver: Actor) -> None:
    balance = _locked_at_version(request)
    check_deletable(balance)
    write_delete(
        service=request.service,
        balance=balance,
        note=request.reason,
        actor=requester_of(request),
        approved=(request, approver),
    )


def describe(request) -> Description:
    balance = Balance.objects.filter(
        service_id=request.service_id, currency=request.currency
    ).first()
    history = list(
        BalanceChange.objects.filter(service_id=request.service_id, currency=request.currency)
        .select_related("sync_run")
        .order_by("-created_at", "-id")[:HISTORY_SHOWN]
    )
    link = reverse("balances:history", args=[request.service.public_id, request.currency])
    if balance is None:
        return Description(
            exists=False,
            moved=True,
            summary="The balance no longer exists.",
            history=history,
            link=link,
        )
    return Description(
        exists=True,
        moved=balance.version != request.balance_version,
        current_value=balance.available,
        current_version=balance.version,
        summary=f"Version {balance.version}, changed by {balance.updated_by_label or '—'}.",
        history=history,
        link=link,
    )


def renew(request) -> tuple[int, Decimal | None]:
    try:
        balance = lock_balance(request.service, request.currency)
    except NotFound:
        raise _moved(request, None) from None
    return balance.version, balance.available


def register_handlers() -> None:
    register(
        "balance_update",
        Handler(
            apply=apply_update,
            describe=describe,
            renew=renew,
            perm="balances.change_balance",
        ),
    )
    register(
        "balance_delete",
        Handler(
            apply=apply_delete,
            describe=describe,
            renew=renew,
            perm="balances.delete_balance",
        ),
    )
    for kind in ("balance_update", "balance_delete"):
        lock_object_first(kind, lock_first)
