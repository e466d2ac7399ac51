"""Writes to services (and their audit trail)."""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

from django.db import transaction
from django.utils import timezone

from core import rawsql
from core.actors import Actor
from core.errors import NotAllowed, ValidationFailed
from services.countries import is_country
from services.models import AuditEntry, FeeProfile, Service

NAME_MAX_LENGTH = 200


class AuditFields(TypedDict, total=False):
    """What an audit entry may say besides who did what to which subject."""

    service: Service | None
    fee_profile: Any
    changes: dict[str, Any] | None
    object_type: str
    object_id: str
    reason: str


def audit(*, actor: Actor, action: str, subject: str, **more: Unpack[AuditFields]) -> AuditEntry:
    """One append-only audit entry: who (``actor``, with the session or API key used) did
    ``action`` to which object, ``changes`` as ``{"field": [old, new]}`` (JSON-ready values:
    amounts as exact strings) or ``{"field": value}``, and the reason given."""
    values = audit_values(actor=actor, action=action, subject=subject, **more)
    # One hand-written INSERT (core.rawsql): every write of a person pays for it, payouts
    # on a busy balance included, and ``create()`` cost more CPU than the insert itself.
    entry = rawsql.instance(AuditEntry, rawsql.insert(AuditEntry, values), values)
    service = more.get("service")
    if service is not None:
        entry.service = service
    return entry


def audit_values(
    *, actor: Actor, action: str, subject: str, **more: Unpack[AuditFields]
) -> dict[str, Any]:
    """The columns of the entry :func:`audit` writes, by attname, for a caller that writes
    it as part of a statement of its own (a payout's creation)."""
    service, fee_profile = more.get("service"), more.get("fee_profile")
    return {
        "service_id": service.pk if service is not None else None,
        "fee_profile_id": fee_profile.pk if fee_profile is not None else None,
        "subject": subject[:200],
        "object_type": more.get("object_type", "")[:32],
        "object_id": more.get("object_id", "")[:64],
        "action": action[:32],
        "actor_label": actor.label[:150],
        "actor_user_id": actor.user.pk if actor.user is not None else None,
        "via": actor.via[:32],
        "reason": more.get("reason", ""),
        "changes": more.get("changes") or {},
        "created_at": timezone.now(),
    }


def clean_name(raw: object, *, max_length: int, missing: str) -> str:
    """A name as typed, runs of whitespace made one space; ``missing`` says what to do when
    nothing is left."""
    name = " ".join(str(raw or "").split())
    if not name:
        raise ValidationFailed(missing, field="name")
    if len(name) > max_length:
        raise ValidationFailed(f"Keep the name under {max_length} characters.", field="name")
    return name


def _clean_name(raw: object) -> str:
    return clean_name(raw, max_length=NAME_MAX_LENGTH, missing="Give the service a name.")


def _clean_country(raw: object) -> str:
    code = str(raw or "").strip().upper()
    if not is_country(code):
        raise ValidationFailed(
            f"{code or 'An empty value'} is not an ISO 3166-1 alpha-2 country code.",
            field="country",
        )
    return code


def _clean_status(raw: object) -> str:
    status = str(raw or "").strip().lower()
    if status not in Service.Status.values:
        raise ValidationFailed(
            f"Status must be one of {', '.join(Service.Status.values)}.", field="status"
        )
    return status


@transaction.atomic
def service_create(
    *, name: str, country: str, actor: Actor, status: str = Service.Status.ACTIVE
) -> Service:
    service = Service.objects.create(
        name=_clean_name(name), country=_clean_country(country), status=_clean_status(status)
    )
    audit(
        actor=actor,
        action="service_created",
        subject=service.public_id,
        service=service,
        object_type="service",
        object_id=service.public_id,
        changes={"name": service.name, "country": service.country, "status": service.status},
    )
    return service


_UNSET: Any = object()


@transaction.atomic
def service_update(
    *,
    service: Service,
    actor: Actor,
    name: str | None = None,
    country: str | None = None,
    status: str | None = None,
    fee_profile: FeeProfile | None = _UNSET,
) -> Service:
    """Change the given fields (``None`` leaves a field alone; ``fee_profile=None`` removes
    the profile)."""
    service = Service.objects.select_for_update().get(pk=service.pk)
    new = {
        "name": _clean_name(name) if name is not None else service.name,
        "country": _clean_country(country) if country is not None else service.country,
        "status": _clean_status(status) if status is not None else service.status,
        "fee_profile": service.fee_profile if fee_profile is _UNSET else fee_profile,
    }
    changes = {
        field: [str(getattr(service, field) or "") or None, str(value or "") or None]
        if field == "fee_profile"
        else [getattr(service, field), value]
        for field, value in new.items()
        if getattr(service, field) != value
    }
    if not changes:
        return service
    for field, value in new.items():
        setattr(service, field, value)
    service.save(update_fields=[*new.keys(), "updated_at"])
    audit(
        actor=actor,
        action="service_updated",
        subject=service.public_id,
        service=service,
        object_type="service",
        object_id=service.public_id,
        changes=changes,
    )
    return service


def deletion_blockers(service: Service) -> list[str]:
    blockers = []
    balance_count = service.balances.count()
    if balance_count:
        blockers.append(
            f"it still has {balance_count} balance{'s' if balance_count != 1 else ''}; "
            "delete them first"
        )
    payout_count = service.payouts.count()
    if payout_count:
        blockers.append(f"it has {payout_count} payout{'s' if payout_count != 1 else ''} on record")
    return blockers


@transaction.atomic
def service_delete(*, service: Service, actor: Actor) -> None:
    service = Service.objects.select_for_update().get(pk=service.pk)
    blockers = deletion_blockers(service)
    if blockers:
        raise NotAllowed(
            f"{service.name} cannot be deleted: {'; '.join(blockers)}.",
            details={"reasons": blockers},
            code="not_deletable",
        )
    audit(
        actor=actor,
        action="service_deleted",
        subject=f"{service.name} ({service.public_id})",
        object_type="service",
        object_id=service.public_id,
        changes={"name": service.name, "country": service.country},
    )
    service.delete()
