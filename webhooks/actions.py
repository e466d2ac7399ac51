"""Every write of the webhooks app: subscriptions (create, update, roll the secret, delete),
recording an event for the webhooks that want it, one delivery attempt, a redelivery.

Delivery rules (README, "Webhooks"):

* an event is recorded once with the exact body bytes; each active webhook that wants its type
  gets a delivery, queued after commit (``webhooks.tasks.deliver``, by id);
* an attempt first claims the delivery (a lease in ``locked_until``): a delivery that is
  delivered, not due or being sent by another worker is left alone, so a task delivered twice
  sends once;
* 2xx delivers; a timeout, no connection, 5xx, 408 or 429 is retried with exponential backoff
  and jitter (never before a 429's ``Retry-After``) for ``WEBHOOK_RETRY_HOURS`` after the
  delivery was created; any other answer fails the delivery at once;
* a webhook whose every attempt has failed for ``WEBHOOK_DISABLE_AFTER_HOURS`` is disabled
  with the reason, and its pending deliveries end; editing it to active again re-enables it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from celery import current_app
from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from core import events, rawsql
from core import redis as shared_redis
from core.actors import Actor
from core.crypto import fernet
from core.errors import NotAllowed, ValidationFailed
from core.outbound import OutboundRefused
from services.actions import audit
from webhooks import http, payloads, signing
from webhooks.models import URL_MAX_LENGTH, Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent

logger = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.tasks.deliver"
DESCRIPTION_MAX_LENGTH = 200
# After a roll, the previous secret signs too for this long.
ROLLED_SECRET_VALID = timedelta(hours=24)
PUBLISH_ERRORS = (KombuOperationalError, shared_redis.RedisError, ConnectionError, TimeoutError)
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
                        "interval_max": 0.2}  # fmt: skip
TURNED_OFF = "The webhook was turned off before this delivery was sent."


# --- Input ----------------------------------------------------------------------------------


def clean_url(raw: object) -> str:
    """The URL as given, if the outbound rule allows it; a refusal names ``url`` and why."""
    if not isinstance(raw, str):
        raise ValidationFailed("Enter the URL as a string.", field="url")
    url = raw.strip()
    if not url:
        raise ValidationFailed("Enter the URL that receives the webhooks.", field="url")
    if len(url) > URL_MAX_LENGTH:
        raise ValidationFailed(f"The URL is longer than {URL_MAX_LENGTH} characters.", field="url")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValidationFailed(
            "The URL must not contain spaces or control characters.", field="url"
        )
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 (a port out of range raises here)
    except ValueError:
        raise ValidationFailed("Enter a valid http(s) URL.", field="url") from None
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        raise ValidationFailed(
            "The URL must be an http(s) URL, e.g. https://example.com/webhooks.", field="url"
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed(
            "The URL must not carry credentials; verify the signature instead.", field="url"
        )
    if parts.fragment:
        raise ValidationFailed("The URL must not have a fragment (#…).", field="url")
    try:
        http.check_url(url, resolve_names=True)
    except OutboundRefused as exc:
        raise ValidationFailed(f"URL not allowed: {exc}", field="url") from None
    return url


def clean_events(raw: object) -> list[str]:
    """A non-empty list of known event types, deduplicated, in the documented order."""
    if not isinstance(raw, list | tuple) or not all(isinstance(e, str) for e in raw):
        raise ValidationFailed("Give the event types as a list of strings.", field="events")
    unknown = sorted({e for e in raw if e not in payloads.EVENT_TYPES})
    if unknown:
        raise ValidationFailed(
            f"Unknown event type {unknown[0]!r}; one of {', '.join(payloads.EVENT_TYPES)}.",
            field="events",
        )
    if not raw:
        raise ValidationFailed("Choose at least one event type.", field="events")
    return [e for e in payloads.EVENT_TYPES if e in raw]


def clean_description(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValidationFailed("Give the description as a string.", field="description")
    text = " ".join(raw.split())
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise ValidationFailed(
            f"The description is longer than {DESCRIPTION_MAX_LENGTH} characters.",
            field="description",
        )
    return text


# --- Secrets --------------------------------------------------------------------------------


def _encrypt(secret: str) -> str:
    return fernet().encrypt(secret.encode()).decode()


def _decrypt(token: str) -> str:
    return fernet().decrypt(token.encode()).decode()


def signing_secrets(webhook: Webhook, *, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and a rolled one until it expires.
    Raises ``cryptography.fernet.InvalidToken`` when the key cannot decrypt them."""
    found = [_decrypt(webhook.secret_encrypted)]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret_encrypted and expires is not None and expires > now:
        found.append(_decrypt(webhook.previous_secret_encrypted))
    return found


# --- Subscriptions --------------------------------------------------------------------------


@transaction.atomic
def webhook_create(
    *,
    url: object,
    events: object,
    actor: Actor,
    description: object = "",
    active: bool = True,
) -> tuple[Webhook, str]:
    """Create a webhook; returns it and its secret, which is never shown again."""
    secret = signing.new_secret()
    now = timezone.now()
    webhook = Webhook.objects.create(
        url=clean_url(url),
        events=clean_events(events),
        description=clean_description(description),
        active=bool(active),
        disabled_at=None if active else now,
        secret_encrypted=_encrypt(secret),
        secret_created_at=now,
        created_by_label=actor.label[:150],
        created_at=now,
        updated_at=now,
    )
    logger.info("webhook %s created by %s", webhook.public_id, actor.label)
    _audit(
        webhook,
        action="webhook_created",
        actor=actor,
        changes={**_audit_fields(webhook), "secret": "set"},
    )
    return webhook, secret


def _audit_fields(webhook: Webhook) -> dict[str, Any]:
    """What the audit log keeps of a webhook: its URL's host (a URL may carry a token in its
    path or query, so the rest is never copied), events, description and state."""
    return {
        "host": urlsplit(webhook.url).hostname or "",
        "events": ", ".join(webhook.events),
        "description": webhook.description,
        "active": webhook.active,
    }


def _audit(webhook: Webhook, *, action: str, actor: Actor, changes: dict[str, Any]) -> None:
    audit(
        actor=actor,
        action=action,
        subject=f"webhook {webhook.public_id}",
        changes=changes,
        object_type="webhook",
        object_id=webhook.public_id,
    )


def _end_pending(webhook: Webhook, reason: str, *, now: datetime) -> int:
    return WebhookDelivery.objects.filter(
        webhook=webhook, status=WebhookDelivery.Status.PENDING
    ).update(
        status=WebhookDelivery.Status.FAILED,
        next_attempt_at=None,
        locked_until=None,
        last_error=reason,
        updated_at=now,
    )


def webhook_update(
    *,
    webhook: Webhook,
    actor: Actor,
    url: object = None,
    events: object = None,
    description: object = None,
    active: bool | None = None,
) -> Webhook:
    """Change what is given (None: unchanged).  Turning a webhook on clears why it was
    disabled and restarts its failure clock; turning it off ends its pending deliveries."""
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = clean_url(url)
    if events is not None:
        changes["events"] = clean_events(events)
    if description is not None:
        changes["description"] = clean_description(description)
    with transaction.atomic():
        locked = Webhook.objects.select_for_update().get(pk=webhook.pk)
        before = _audit_fields(locked)
        old_url = locked.url
        now = timezone.now()
        for field, value in changes.items():
            setattr(locked, field, value)
        if active is True and not locked.active:
            locked.active = True
            locked.disabled_at = None
            locked.disabled_reason = ""
            locked.failing_since = None
        elif active is False and locked.active:
            locked.active = False
            locked.disabled_at = now
            locked.disabled_reason = ""
            _end_pending(locked, TURNED_OFF, now=now)
        locked.updated_at = now
        locked.save()
        after = _audit_fields(locked)
        diff: dict[str, Any] = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if locked.url != old_url and "host" not in diff:
            diff["url"] = "changed"
        if diff:
            _audit(locked, action="webhook_updated", actor=actor, changes=diff)
    logger.info("webhook %s changed by %s", locked.public_id, actor.label)
    return locked


def webhook_roll_secret(*, webhook: Webhook, actor: Actor) -> str:
    """A new secret, returned once.  The previous one keeps signing (a second ``v1``) for
    :data:`ROLLED_SECRET_VALID`, so that receivers can switch without losing deliveries."""
    secret = signing.new_secret()
    with transaction.atomic():
        locked = Webhook.objects.select_for_update().get(pk=webhook.pk)
        now = timezone.now()
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = now + ROLLED_SECRET_VALID
        locked.secret_encrypted = _encrypt(secret)
        locked.secret_created_at = now
        locked.updated_at = now
        locked.save()
        _audit(locked, action="webhook_secret_rolled", actor=actor, changes={"secret": "rolled"})
    logger.info("webhook %s secret rolled by %s", webhook.public_id, actor.label)
    return secret


def webhook_delete(*, webhook: Webhook, actor: Actor) -> None:
    """Delete the webhook with its deliveries and their log; events no other webhook
    delivers go too."""
    with transaction.atomic():
        # The webhook's row first, before its deliveries (which the deletion deletes first),
        # as every other path locks them: an attempt being recorded finishes first, and a
        # publisher waits, then finds it gone.
        list(Webhook.objects.select_for_update().filter(pk=webhook.pk).values_list("pk"))
        event_ids = list(webhook.deliveries.values_list("event_id", flat=True).distinct())
        _audit(webhook, action="webhook_deleted", actor=actor, changes=_audit_fields(webhook))
        webhook.delete()
        WebhookEvent.objects.filter(pk__in=event_ids, deliveries__isnull=True).delete()
    logger.info("webhook %s deleted by %s", webhook.public_id, actor.label)


# --- Events and deliveries ------------------------------------------------------------------


def _enqueue(delivery_ids: Iterable[int], *, not_inline: Iterable[int] = ()) -> None:
    """Queue a task per delivery once committed.  With in-process tasks a delivery runs in
    this process at once, except those in ``not_inline`` (webhooks that are failing: they
    would only hold the request), which ``retry_due`` sends."""
    ids = list(delivery_ids)
    skip = set(not_inline)

    def send() -> None:
        task = current_app.tasks[DELIVER_TASK]
        eager = bool(current_app.conf.task_always_eager)
        for pk in ids:
            if eager and pk in skip:
                continue
            try:
                task.apply_async(args=(pk,), retry=True, retry_policy=PUBLISH_RETRY_POLICY)
            except PUBLISH_ERRORS as exc:
                # The delivery stays pending and due: retry_due sends it once Redis is back.
                logger.warning("webhook delivery %s not queued: %s", pk, type(exc).__name__)

    transaction.on_commit(send)


_ACTIVE_COLUMNS = ("id", "events", "failing_since")


@cache
def _active_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    # Identifiers from the model only; no value.
    return (
        f"SELECT {rawsql.columns(Webhook, _ACTIVE_COLUMNS, alias='w')} "  # noqa: S608
        f"FROM {q(Webhook._meta.db_table)} w WHERE w.{q('active')} ORDER BY w.{q('id')}"
    )


class _Active(NamedTuple):
    pk: int
    events: list[str]
    failing_since: datetime | None


def _active_webhooks() -> tuple[_Active, ...]:
    """The active webhooks (id, events, failing_since): read after the commit of every
    payout and balance change, so by one hand-written statement (core.rawsql), once for
    all the events of one write (``events.shared_reads``)."""
    return events.shared("webhooks.active", _read_active_webhooks)


def _read_active_webhooks() -> tuple[_Active, ...]:
    rows = rawsql.fetch(_active_sql(connection.vendor))
    return tuple(_Active(*rawsql.convert(Webhook, _ACTIVE_COLUMNS, row).values()) for row in rows)


def webhook_event_publish(
    *, event_type: str, data: Callable[[], dict[str, Any]], at: datetime
) -> WebhookEvent | None:
    """Record an event for every active webhook that wants ``event_type`` and queue its
    deliveries; None (and nothing written) when no webhook wants it.  ``data`` builds the
    payload, only then."""
    wanting = [w.pk for w in _active_webhooks() if event_type in (w.events or [])]
    if not wanting:
        return None
    with transaction.atomic():
        # The list above may be a moment old (read once for all the events of a write):
        # the ones still active now, locked so that none is deleted before the deliveries
        # that name it are committed, with whether each is failing now.
        live = dict(
            Webhook.objects.filter(pk__in=wanting, active=True)
            .select_for_update(no_key=True)
            .order_by("pk")
            .values_list("pk", "failing_since")
        )
        if not live:
            return None
        event = WebhookEvent(type=event_type, created_at=at)
        event.body = payloads.envelope(
            event_id=event.public_id, event_type=event_type, at=at, data=data()
        )
        event.save()
        deliveries = WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(webhook_id=pk, event=event) for pk in live]
        )
        failing = {pk for pk, failing_since in live.items() if failing_since is not None}
        _enqueue(
            [d.pk for d in deliveries],
            not_inline=[d.pk for d in deliveries if d.webhook_id in failing],
        )
    return event


def delivery_redeliver(*, delivery: WebhookDelivery, actor: Actor) -> WebhookDelivery:
    """Send the same event (same id, same bytes) again, as a new delivery."""
    webhook = delivery.webhook
    if not webhook.active:
        raise NotAllowed("The webhook is turned off; turn it on before redelivering.")
    with transaction.atomic():
        again = WebhookDelivery.objects.create(
            webhook=webhook, event_id=delivery.event_id, redelivery_of=delivery
        )
        _enqueue([again.pk])
    logger.info(
        "webhook delivery %s redelivered as %s by %s",
        delivery.public_id,
        again.public_id,
        actor.label,
    )
    return again


@dataclass(frozen=True)
class AttemptOutcome:
    """``status``: delivered, retrying, failed, or skipped (nothing to do: not pending, not
    due, or another worker holds it); ``retry_in`` seconds for retrying."""

    status: str
    retry_in: float | None = None


def backoff_seconds(attempt: int, *, retry_after: float | None = None) -> float:
    """Exponential backoff with (equal) jitter after attempt number ``attempt`` (1-based),
    never earlier than ``retry_after``."""
    ceiling = min(
        settings.WEBHOOK_RETRY_MAX_SECONDS,
        settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** min(attempt - 1, 30),
    )
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def _claim(delivery_id: int, *, now: datetime) -> bool:
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 4 + 30)
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=lease)
    )
    return bool(claimed)


def delivery_attempt(*, delivery_id: int) -> AttemptOutcome:
    """One attempt of a due delivery: claim it, POST the signed body (outside any
    transaction), record how it went.  Safe to call twice for the same delivery."""
    if not _claim(delivery_id, now=timezone.now()):
        return AttemptOutcome("skipped")
    delivery = (
        WebhookDelivery.objects.select_related("webhook", "event").filter(pk=delivery_id).first()
    )
    if delivery is None:  # its webhook was deleted meanwhile
        return AttemptOutcome("skipped")
    webhook = delivery.webhook
    if not webhook.active:
        with transaction.atomic():
            # The webhook's row before its deliveries, as turning it off locks them.
            list(Webhook.objects.select_for_update().filter(pk=webhook.pk).values_list("pk"))
            _end_pending(webhook, TURNED_OFF, now=timezone.now())
        return AttemptOutcome("failed")
    body = bytes(delivery.event.body)
    started_at = timezone.now()
    try:
        secrets_ = signing_secrets(webhook, now=started_at)
    except InvalidToken:
        answer = http.Answer(
            None,
            0,
            error="The signing secret cannot be decrypted with CREDENTIALS_ENCRYPTION_KEY; "
            "roll the secret.",
        )
    else:
        headers = {
            signing.HEADER: signing.header_value(secrets_, int(time.time()), body),
            "Backoffice-Event-Id": delivery.event.public_id,
            "Backoffice-Delivery-Id": delivery.public_id,
        }
        try:
            answer = http.post(
                webhook.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
            )
        except OutboundRefused as exc:
            answer = http.Answer(None, 0, error=f"The URL is not allowed (any more): {exc}")
    try:
        return _record(delivery_id=delivery.pk, answer=answer, started_at=started_at)
    except (WebhookDelivery.DoesNotExist, Webhook.DoesNotExist):
        return AttemptOutcome("skipped")  # deleted while it was being sent


def _record(*, delivery_id: int, answer: http.Answer, started_at: datetime) -> AttemptOutcome:
    """Record the attempt on the delivery and its webhook, both locked: the webhook first,
    then the delivery, the order of every path that locks a webhook and its deliveries
    (turning it off or disabling it ends them, publishing adds some, deleting it deletes
    them).  Raises ``WebhookDelivery.DoesNotExist`` or ``Webhook.DoesNotExist`` when either
    was deleted meanwhile."""
    with transaction.atomic():
        # Which webhook, read without a lock (a delivery never changes webhook).
        webhook_id = (
            WebhookDelivery.objects.filter(pk=delivery_id).values_list("webhook_id", flat=True)
        ).get()
        webhook = Webhook.objects.select_for_update().get(pk=webhook_id)
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        now = timezone.now()
        number = delivery.attempts + 1
        retry_in: float | None = None
        if answer.ok:
            outcome = WebhookAttempt.Outcome.DELIVERED
            webhook.failing_since = None
        else:
            webhook.failing_since = webhook.failing_since or started_at
            deadline = delivery.created_at + timedelta(hours=settings.WEBHOOK_RETRY_HOURS)
            outcome = WebhookAttempt.Outcome.FAILED
            if answer.retryable and webhook.active and now < deadline:
                retry_in = backoff_seconds(number, retry_after=answer.retry_after)
                retry_in = min(retry_in, (deadline - now).total_seconds())
                outcome = WebhookAttempt.Outcome.RETRYING
            disable_after = timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_HOURS)
            if webhook.active and webhook.failing_since <= now - disable_after:
                _disable(webhook, answer, now=now)
                outcome, retry_in = WebhookAttempt.Outcome.FAILED, None
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            outcome=outcome,
            status_code=answer.status_code,
            duration_ms=answer.duration_ms,
            response_snippet=answer.snippet,
            error=answer.error,
            started_at=started_at,
        )
        if delivery.status == WebhookDelivery.Status.PENDING:
            if outcome == WebhookAttempt.Outcome.DELIVERED:
                delivery.status = WebhookDelivery.Status.DELIVERED
                delivery.delivered_at = now
                delivery.next_attempt_at = None
            elif outcome == WebhookAttempt.Outcome.RETRYING:
                assert retry_in is not None
                delivery.next_attempt_at = now + timedelta(seconds=retry_in)
            else:
                delivery.status = WebhookDelivery.Status.FAILED
                delivery.next_attempt_at = None
        delivery.attempts = number
        delivery.locked_until = None
        delivery.last_status_code = answer.status_code
        delivery.last_duration_ms = answer.duration_ms
        delivery.last_response = answer.snippet
        delivery.last_error = answer.error
        delivery.updated_at = now
        delivery.save()
        webhook.save(update_fields=["failing_since", "active", "disabled_at", "disabled_reason"])
    return AttemptOutcome(str(outcome), retry_in)


def deliveries_purge(*, now: datetime | None = None, batch: int = 1000) -> int:
    """Forget ended deliveries (with their attempt log) older than
    ``WEBHOOK_LOG_RETENTION_DAYS``, and the events no delivery refers to any more; at most
    ``batch`` deliveries per call.  Returns how many deliveries went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.WEBHOOK_LOG_RETENTION_DAYS)
    ids = list(
        WebhookDelivery.objects.filter(created_at__lt=cutoff)
        .exclude(status=WebhookDelivery.Status.PENDING)
        .order_by("id")
        .values_list("id", flat=True)[:batch]
    )
    if not ids:
        return 0
    with transaction.atomic():
        event_ids = set(
            WebhookDelivery.objects.filter(pk__in=ids).values_list("event_id", flat=True)
        )
        WebhookDelivery.objects.filter(pk__in=ids).delete()
        WebhookEvent.objects.filter(pk__in=event_ids, deliveries__isnull=True).delete()
    return len(ids)


def _disable(webhook: Webhook, answer: http.Answer, *, now: datetime) -> None:
    assert webhook.failing_since is not None
    hours = settings.WEBHOOK_DISABLE_AFTER_HOURS
    last = answer.error or "no answer"
    webhook.active = False
    webhook.disabled_at = now
    webhook.disabled_reason = (
        f"every delivery attempt failed for {hours:g} hours (since "
        f"{webhook.failing_since:%Y-%m-%d %H:%M} UTC); the last one: {last}"
    )
    _end_pending(webhook, "The webhook was disabled after failing for too long.", now=now)
    logger.warning("webhook %s disabled: %s", webhook.public_id, webhook.disabled_reason)
