"""Every write to alert rules and alerts: rules (admins), acknowledging (operators), the
periodic check of time-based conditions and the notification mail.

Opening and resolving alerts on balance writes happens in alerts/evaluate.py, called by the
core.events listeners registered in AlertsConfig.ready().
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from alerts import evaluate
from alerts.events import AlertAcknowledged
from alerts.models import AMOUNT_KINDS, Alert, AlertRule, Kind
from alerts.queries import recount_open_alerts
from balances.models import Balance
from core import events
from core.actors import Actor
from core.errors import AlreadyExists, NotAllowed, ValidationFailed
from core.money import currencies
from core.plain import counted
from services.actions import audit
from services.models import Service

log = logging.getLogger(__name__)

NOTE_MAX_LENGTH = 1000
MAX_EMAILS = 20
MAX_STALE_MINUTES = 366 * 24 * 60
MAX_FAILURES = 1000
DEFAULT_FAILURES = 3


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


# --- validation ---------------------------------------------------------------------------


def _clean_kind(raw: object) -> str:
    kind = str(raw or "").strip()
    if kind not in Kind.values:
        raise ValidationFailed(f"Kind must be one of {', '.join(Kind.values)}.", field="kind")
    return kind


def _clean_threshold(raw: object, *, kind: str, currency: str) -> Decimal | None:
    if kind not in AMOUNT_KINDS:
        if raw not in (None, ""):
            raise ValidationFailed(
                "A threshold applies only to the available_below and "
                "available_for_payout_below kinds.",
                field="threshold",
            )
        return None
    if raw in (None, ""):
        if kind == Kind.AVAILABLE_FOR_PAYOUT_BELOW:
            return Decimal(0)
        raise ValidationFailed("Give the threshold amount.", field="threshold")
    try:
        return currencies.parse_amount(raw, currency)
    except currencies.AmountError as exc:
        raise ValidationFailed(str(exc), field="threshold") from None


def _clean_count(
    raw: object, *, field: str, applies: bool, label: str, upper: int, default: int | None
) -> int | None:
    if not applies:
        if raw not in (None, ""):
            raise ValidationFailed(f"{label} applies only to its own kind of rule.", field=field)
        return None
    if raw in (None, ""):
        if default is not None:
            return default
        raise ValidationFailed(f"Give {label.lower()}.", field=field)
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValidationFailed(f"{label} must be a whole number.", field=field)
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise ValidationFailed(f"{label} must be a whole number.", field=field)
    value = int(text)
    if not 1 <= value <= upper:
        raise ValidationFailed(f"{label} must be between 1 and {upper}.", field=field)
    return value


def _clean_emails(raw: object) -> list[str]:
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        items: Iterable[Any] = [part for part in raw.replace(",", "\n").splitlines()]
    elif isinstance(raw, list | tuple):
        items = raw
    else:
        raise ValidationFailed("Emails must be a list of addresses.", field="emails")
    cleaned: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValidationFailed("Emails must be a list of addresses.", field="emails")
        address = item.strip()
        if not address:
            continue
        try:
            if len(address) > 254:
                raise ValidationError("too long")
            validate_email(address)
        except ValidationError:
            shown = address if len(address) <= 60 else address[:60] + "…"
            raise ValidationFailed(f"{shown!r} is not an email address.", field="emails") from None
        if address.lower() not in (a.lower() for a in cleaned):
            cleaned.append(address)
    if len(cleaned) > MAX_EMAILS:
        raise ValidationFailed(f"Name at most {MAX_EMAILS} addresses.", field="emails")
    return cleaned


def _clean_rule(
    *,
    currency: object,
    kind: object,
    threshold: object,
    stale_minutes: object,
    failures: object,
    emails: object,
) -> dict[str, Any]:
    code = currencies.clean_code(currency)
    clean_kind = _clean_kind(kind)
    return {
        "currency": code,
        "kind": clean_kind,
        "threshold": _clean_threshold(threshold, kind=clean_kind, currency=code),
        "stale_minutes": _clean_count(
            stale_minutes,
            field="stale_minutes",
            applies=clean_kind == Kind.STALE,
            label="Minutes without a confirmed sync",
            upper=MAX_STALE_MINUTES,
            default=None,
        ),
        "failures": _clean_count(
            failures,
            field="failures",
            applies=clean_kind == Kind.SYNC_FAILING,
            label="Failed runs in a row",
            upper=MAX_FAILURES,
            default=DEFAULT_FAILURES,
        ),
        "emails": _clean_emails(emails),
    }


def _duplicate(fields: dict[str, Any], service: Service | None) -> AlreadyExists:
    scope = service.public_id if service else "all services"
    return AlreadyExists(
        f"There is already a {fields['kind']} rule for {fields['currency']} on {scope}; "
        "edit that one.",
        field="kind",
    )


def _describe(rule: AlertRule) -> dict[str, Any]:
    return {
        "rule": rule.public_id,
        "service": rule.service.public_id if rule.service else None,
        "currency": rule.currency,
        "kind": rule.kind,
        "threshold": evaluate.rule_threshold(rule),
        # One string: a list of two would read as an [old, new] pair in the audit trail.
        "emails": ", ".join(rule.emails),
    }


def _lock_scope(*scopes: tuple[str, int | None]) -> None:
    """Lock the balance rows the rule applies to (ordered, one statement), so that balance
    writes wait for the evaluation below and then see the rule: neither side misses the
    other's change.  The rows are marked ``watched`` too: a write that waited for the lock
    reads the mark from the row version this transaction leaves, and evaluates the rules
    (a payout's hold skips them on a balance nothing watches).

    The order is every multi-balance locker's: by service, then by currency within it, as a
    sync locks its service's balances (balances.sync.apply); payouts and manual writes lock
    one balance.  Two scopes (a rule moving to another currency or service) then never lock
    two balances in the opposite order of a sync."""
    for_update = Balance.objects.select_for_update().order_by("service_id", "currency")
    query = None
    for currency, service_id in scopes:
        part = Q(currency=currency) & (Q(service_id=service_id) if service_id else Q())
        query = part if query is None else query | part
    if query is not None:
        list(for_update.filter(query).values_list("pk", flat=True))
        # The same rows, locked above in order: no other order of locks to deadlock with.
        Balance.objects.filter(query).update(watched=True)


# --- rules --------------------------------------------------------------------------------


def _lock_rule(rule: AlertRule) -> AlertRule:
    """``rule``, locked against other changes of it: FOR NO KEY UPDATE, which lets the
    writers that open an alert of it meanwhile take the key share lock of the alert's
    foreign key.  A stronger lock would make them wait for this change while it waits for
    their balance locks (:func:`_lock_scope`): a deadlock.  A change never touches the
    rule's keys (id, public id), so the update keeps the lock this weak."""
    return (
        AlertRule.objects.select_for_update(no_key=True, of=("self",))
        .select_related("service")
        .get(pk=rule.pk)
    )


@transaction.atomic
def rule_create(
    *,
    service: Service | None,
    currency: object,
    kind: object,
    actor: Actor,
    threshold: object = None,
    stale_minutes: object = None,
    failures: object = None,
    emails: object = None,
) -> AlertRule:
    """Create a rule and open alerts at once for the balances it already finds in trouble."""
    fields = _clean_rule(
        currency=currency,
        kind=kind,
        threshold=threshold,
        stale_minutes=stale_minutes,
        failures=failures,
        emails=emails,
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            rule = AlertRule.objects.create(
                service=service, created_at=now, updated_at=now, **fields
            )
    except IntegrityError:
        raise _duplicate(fields, service) from None
    audit(
        actor=actor,
        action="alert_rule_created",
        subject=f"alert rule {rule.public_id}",
        service=service,
        object_type="alert_rule",
        object_id=rule.public_id,
        changes=_describe(rule),
    )
    _lock_scope((rule.currency, rule.service_id))
    evaluate.reconcile_scope(
        currency=rule.currency,
        service_id=rule.service_id,
        kinds=frozenset({rule.kind}),
        now=now,
    )
    return rule


@transaction.atomic
def rule_update(
    *,
    rule: AlertRule,
    actor: Actor,
    service: Any = UNSET,
    currency: object = UNSET,
    kind: object = UNSET,
    threshold: object = UNSET,
    stale_minutes: object = UNSET,
    failures: object = UNSET,
    emails: object = UNSET,
) -> AlertRule:
    """Change what was given (``UNSET`` keeps it).  A value that no longer fits the kind is
    dropped when the kind changes.  If the rule now watches other balances or another
    condition, its unresolved alerts are resolved; then the balances are evaluated again."""
    locked = _lock_rule(rule)
    new_kind = locked.kind if kind is UNSET else kind
    kind_changed = str(new_kind or "").strip() != locked.kind

    def pick(given: object, current: object) -> object:
        if given is not UNSET:
            return given
        return None if kind_changed else current

    new_service = locked.service if service is UNSET else service
    new_currency = locked.currency if currency is UNSET else currency
    current_threshold = (
        currencies.plain_amount(locked.threshold, locked.currency)
        if locked.threshold is not None
        else None
    )
    fields = _clean_rule(
        currency=new_currency,
        kind=new_kind,
        threshold=pick(threshold, current_threshold),
        stale_minutes=pick(stale_minutes, locked.stale_minutes),
        failures=pick(failures, locked.failures),
        emails=locked.emails if emails is UNSET else emails,
    )
    before = _describe(locked)
    old_scope = (locked.currency, locked.service_id, locked.kind)
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.service = new_service
    locked.updated_at = now = timezone.now()
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:
        raise _duplicate(fields, new_service) from None
    after = _describe(locked)
    if before != after:
        audit(
            actor=actor,
            action="alert_rule_changed",
            subject=f"alert rule {locked.public_id}",
            service=new_service,
            changes={k: [before.get(k), after.get(k)] for k in after if before.get(k) != after[k]},
            object_type="alert_rule",
            object_id=locked.public_id,
        )
    new_scope = (locked.currency, locked.service_id, locked.kind)
    _lock_scope(old_scope[:2], new_scope[:2])
    if new_scope != old_scope:
        _resolve_rule_alerts(locked, reason=evaluate.RULE_CHANGED, now=now)
        evaluate.reconcile_scope(
            currency=old_scope[0],
            service_id=old_scope[1],
            kinds=frozenset({old_scope[2]}),
            now=now,
        )
    evaluate.reconcile_scope(
        currency=locked.currency,
        service_id=locked.service_id,
        kinds=frozenset({locked.kind}),
        now=now,
    )
    return locked


def _resolve_rule_alerts(rule: AlertRule, *, reason: str, now: datetime) -> int:
    resolved = 0
    for alert in evaluate.unresolved_of(Alert.objects.filter(rule=rule)):
        resolved += evaluate.resolve_alert(alert, value="", reason=reason, now=now)
    return resolved


@transaction.atomic
def rule_delete(*, rule: AlertRule, actor: Actor) -> None:
    """Delete a rule.  Its alerts are resolved and kept (history); where an all-services rule
    of the same kind takes over, the balances are evaluated against it at once.

    The rule is locked as :func:`rule_update` locks it, then its balances, and only then is
    the row deleted (which needs the strongest lock): every writer that opens an alert of
    the rule on a balance of its scope holds that balance's lock until it commits, so by
    then none of them is left to wait for."""
    locked = _lock_rule(rule)
    now = timezone.now()
    scope = (locked.currency, locked.service_id, locked.kind)
    _lock_scope(scope[:2])
    _resolve_rule_alerts(locked, reason=evaluate.RULE_GONE, now=now)
    audit(
        actor=actor,
        action="alert_rule_deleted",
        subject=f"alert rule {locked.public_id}",
        service=locked.service,
        object_type="alert_rule",
        object_id=locked.public_id,
        changes=_describe(locked),
    )
    locked.delete()
    if scope[1] is not None:
        evaluate.reconcile_scope(
            currency=scope[0], service_id=scope[1], kinds=frozenset({scope[2]}), now=now
        )


# --- alerts -------------------------------------------------------------------------------


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor: Actor, note: str) -> Alert:
    """An operator has seen an open alert and says what is being done: it stays unresolved
    (no new alert opens while its condition holds) and resolves by itself."""
    text = (note or "").strip()
    if not text:
        raise ValidationFailed("Say what is being done about it.", field="note")
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationFailed(f"Keep the note under {NOTE_MAX_LENGTH} characters.", field="note")
    locked = (
        Alert.objects.select_for_update(of=("self",)).select_related("service").get(pk=alert.pk)
    )
    if locked.status != Alert.Status.OPEN:
        raise NotAllowed(
            f"Alert {locked.public_id} is {locked.status}; only an open alert can be acknowledged.",
            details={"status": locked.status},
            code="not_open",
        )
    now = timezone.now()
    locked.status = Alert.Status.ACKNOWLEDGED
    locked.acknowledged_at = now
    locked.acknowledged_by = actor.user
    locked.acknowledged_by_label = actor.label[:150]
    locked.note = text
    locked.save(
        update_fields=[
            "status",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledged_by_label",
            "note",
        ]
    )
    events.publish(
        AlertAcknowledged(
            alert_public_id=locked.public_id,
            service_id=locked.service_id,
            service_public_id=locked.service.public_id,
            currency=locked.currency,
            kind=locked.kind,
            by=locked.acknowledged_by_label,
            note=text,
            at=now,
        )
    )
    return locked


def alerts_check(*, now: datetime | None = None) -> tuple[int, int]:
    """The periodic check of the time-based kinds (stale; sync_failing as a safety net for
    a pause lifted by hand).  A first look without locks finds the balances whose alerts should
    change; each of those is looked at again with its row locked, in a transaction of its own,
    so that a sync committing meanwhile is not contradicted.  Returns (opened, resolved)."""
    now = now or timezone.now()
    kinds = evaluate.TIME_BASED
    opened = resolved = 0
    codes = (
        AlertRule.objects.filter(kind__in=list(kinds))
        .order_by("currency")
        .values_list("currency", flat=True)
        .distinct()
    )
    for code in list(codes):
        candidates = {c.key for c in evaluate.scope_changes(currency=code, kinds=kinds, now=now)}
        for service_id, currency in sorted(candidates):
            with transaction.atomic():
                o, r = evaluate.reconcile_scope(
                    currency=currency, service_id=service_id, kinds=kinds, now=now, lock=True
                )
            opened += o
            resolved += r
    if opened or resolved:
        log.info("alerts check: %s opened, %s resolved", opened, resolved)
    # The navigation's count, also for what no event tells (alerts deleted with a service).
    recount_open_alerts()
    return opened, resolved


# How long a sender holds an alert's mail before another may send it (a worker lost while
# sending); and the head start of the task queued when the alert opened over the periodic
# check, which sends what is still owed after it.
MAIL_LEASE = timedelta(minutes=5)
MAIL_GRACE = timedelta(minutes=1)
MAILS_PER_CHECK = 100


def alert_notify(*, alert_public_id: str, now: datetime | None = None) -> int:
    """Mail the addresses the alert's rule names; returns how many messages were sent.  The
    mail is claimed first (``mail_due_at``), so that the queued task and the periodic check
    never both send it; it is settled once sent, and owed again at once when the mail server
    is unavailable (the next check sends it).  A mail the server refuses for good (every
    address refused, a malformed address) is settled unsent and logged.  Only a worker lost
    between sending and settling sends it again, after the lease: at least once, never lost.
    Nothing is sent for an alert that has resolved meanwhile, or that owes nothing."""
    now = now or timezone.now()
    owed = Alert.objects.filter(public_id=alert_public_id, mail_due_at__lte=now)
    if not owed.update(mail_due_at=now + MAIL_LEASE):
        return 0
    claimed = Alert.objects.filter(public_id=alert_public_id)
    alert = claimed.select_related("rule", "service").first()
    if alert is None or alert.rule is None or alert.is_resolved or not alert.rule.emails:
        claimed.update(mail_due_at=None)
        return 0
    try:
        sent = _mail_alert(alert)
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, ValueError) as exc:
        claimed.update(mail_due_at=None)
        log.warning(
            "alert %s: mail refused for good (%s), not sent", alert_public_id, type(exc).__name__
        )
        return 0
    except OSError:
        claimed.update(mail_due_at=now)
        raise
    claimed.update(mail_due_at=None)
    return sent


def alerts_mail_owed(*, now: datetime | None = None) -> list[str]:
    """The alerts whose mail is still owed a while after they opened (the queue was down
    when they did, or a worker was lost while sending), oldest first, for the periodic
    check to send."""
    now = now or timezone.now()
    return list(
        Alert.objects.filter(mail_due_at__lte=now - MAIL_GRACE)
        .order_by("mail_due_at", "id")
        .values_list("public_id", flat=True)[:MAILS_PER_CHECK]
    )


def _mail_alert(alert: Alert) -> int:
    assert alert.rule is not None
    subject = f"[Back-office] {alert.get_kind_display()}: {alert.currency} of {alert.service.name}"
    body = "\n".join(
        [
            f"Alert {alert.public_id} opened at {alert.opened_at:%Y-%m-%d %H:%M} UTC.",
            "",
            f"Service: {alert.service.name} ({alert.service.public_id})",
            f"Currency: {alert.currency}",
            f"Condition: {describe_condition(alert.kind, alert.threshold, alert.currency)}",
            f"Value: {describe_value(alert.kind, alert.opened_value, alert.currency)}",
            "",
            f"See /alerts/{alert.public_id}/ in the back-office.",
        ]
    )
    return mail.send_mail(
        subject[:200],
        body,
        settings.DEFAULT_FROM_EMAIL,
        list(alert.rule.emails),
        fail_silently=False,
    )


def describe_condition(kind: str, threshold: str, currency: str) -> str:
    if kind == Kind.AVAILABLE_BELOW:
        return f"available below {threshold} {currency}"
    if kind == Kind.AVAILABLE_FOR_PAYOUT_BELOW:
        return f"available for payout below {threshold} {currency}"
    if kind == Kind.STALE:
        return f"not confirmed by a sync for more than {threshold} minutes"
    return f"{threshold} failed sync runs in a row, or the schedule paused"


def describe_value(kind: str, value: str, currency: str) -> str:
    if not value:
        return "—"
    if kind in AMOUNT_KINDS:
        return f"{value} {currency}"
    if kind == Kind.STALE:
        return counted(value, "minute")
    return f"{counted(value, 'failed run')} in a row"
