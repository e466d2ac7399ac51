"""Which changes need a second person: the stored policy of a currency, else the platform
default from ``APPROVAL_DEFAULTS``, else none (no approval, as before approvals existed).

``APPROVAL_DEFAULTS`` is one line, currencies separated by ``;``, each
``CODE:key=value,...`` with the keys ``manual`` (an amount: a manual change whose absolute
difference exceeds it waits; 0: every manual change), ``payout`` (an amount: a payout above
it waits) and ``deletion`` (1/0: deleting a balance that is not zero waits)::

    APPROVAL_DEFAULTS="EUR:manual=1000.00,payout=5000.00,deletion=1;JPY:manual=0"

It is parsed strictly when the app starts: a bad entry raises ``ImproperlyConfigured``
naming the variable and the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import BooleanField, IntegerField, Model, OuterRef, QuerySet, Subquery

from approvals.models import ApprovalPolicy
from core.money import currencies
from core.money.dbfields import AmountField, from_units

_BOOLS = {"1": True, "true": True, "yes": True, "on": True}
_BOOLS.update({"0": False, "false": False, "no": False, "off": False})


@dataclass(frozen=True)
class Rules:
    """A currency's rules, wherever they come from (``source``: policy, default, none)."""

    currency: str
    manual_change_above: Decimal | None = None
    payout_above: Decimal | None = None
    nonzero_deletion: bool = False
    source: str = "none"

    def manual_change_needs_approval(self, old: Decimal, new: Decimal) -> bool:
        limit = self.manual_change_above
        return limit is not None and abs(new - old) > limit

    def deletion_needs_approval(self, available: Decimal) -> bool:
        return self.nonzero_deletion and available != 0

    def payout_needs_approval(self, amount: Decimal) -> bool:
        return self.payout_above is not None and amount > self.payout_above


def _bad(entry: str, why: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"APPROVAL_DEFAULTS: {why} in {entry!r}.")


def _limit(entry: str, key: str, raw: str, code: str) -> Decimal:
    try:
        value = currencies.parse_amount(raw, code)
    except currencies.AmountError as exc:
        raise _bad(entry, f"{key}={raw!r} is not a {code} amount ({exc})") from None
    if value < 0:
        raise _bad(entry, f"{key} must not be negative")
    return value


def _entry(entry: str) -> Rules:
    code_part, sep, settings_part = entry.partition(":")
    code = currencies.normalise_code(code_part)
    if not sep or not currencies.is_known(code):
        raise _bad(entry, "expected a known currency code followed by ':'")
    fields: dict[str, object] = {}
    for item in filter(None, (p.strip() for p in settings_part.split(","))):
        key, eq, raw = (s.strip() for s in item.partition("="))
        if not eq or key in fields:
            raise _bad(entry, f"{item!r} is not key=value, or repeats a key")
        if key in ("manual", "payout"):
            fields[key] = _limit(entry, key, raw, code)
        elif key == "deletion":
            if raw.lower() not in _BOOLS:
                raise _bad(entry, f"deletion={raw!r} is not 1 or 0")
            fields[key] = _BOOLS[raw.lower()]
        else:
            raise _bad(entry, f"unknown key {key!r} (manual, payout, deletion)")
    return Rules(
        currency=code,
        manual_change_above=fields.get("manual"),  # type: ignore[arg-type]
        payout_above=fields.get("payout"),  # type: ignore[arg-type]
        nonzero_deletion=bool(fields.get("deletion", False)),
        source="default",
    )


@lru_cache(maxsize=8)
def parse_defaults(raw: str) -> dict[str, Rules]:
    found: dict[str, Rules] = {}
    for entry in filter(None, (e.strip() for e in (raw or "").split(";"))):
        rules = _entry(entry)
        if rules.currency in found:
            raise _bad(entry, f"{rules.currency} is given twice")
        found[rules.currency] = rules
    return found


def platform_defaults() -> dict[str, Rules]:
    return parse_defaults(getattr(settings, "APPROVAL_DEFAULTS", ""))


def rules_of(policy: ApprovalPolicy) -> Rules:
    return Rules(
        currency=policy.currency,
        manual_change_above=policy.manual_change_above,
        payout_above=policy.payout_above,
        nonzero_deletion=policy.nonzero_deletion,
        source="policy",
    )


def manual_change_limits() -> dict[str, Decimal]:
    """Per currency, the manual-change limit in force (a stored policy over the platform
    default), for the currencies that have one, sorted by code: what the balance forms say
    before a person saves.  One query."""
    found = {code: rules.manual_change_above for code, rules in platform_defaults().items()}
    for currency, limit in ApprovalPolicy.objects.values_list("currency", "manual_change_above"):
        found[currency] = limit
    return {code: limit for code, limit in sorted(found.items()) if limit is not None}


def rules_for(currency: str) -> Rules:
    """The rules in force for ``currency`` (one indexed query)."""
    policy = ApprovalPolicy.objects.filter(currency=currency).first()
    if policy is not None:
        return rules_of(policy)
    return platform_defaults().get(currency) or Rules(currency=currency)


def _policy_column(column: str, field, currency: object = None) -> Subquery:
    wanted = OuterRef("currency") if currency is None else currency
    found = ApprovalPolicy.objects.filter(currency=wanted).values(column)[:1]
    return Subquery(found, output_field=field)


def with_rules(queryset: QuerySet) -> QuerySet:
    """``queryset`` (of rows with a ``currency``) with the currency's stored policy read in
    the same statement: a write that locks its balance row learns the rules without a query
    of its own, and reads them as they are while it holds the lock."""
    return _annotated(queryset, None)


def with_rules_of(queryset: QuerySet, currency: str) -> QuerySet:
    """``queryset`` with ``currency``'s stored policy read in the same statement, for rows
    that have no currency of their own (the service a payout is created for: the rules are
    known before its balance is locked; read them with ``rules_from(row, currency)``)."""
    return _annotated(queryset, currency)


def _annotated(queryset: QuerySet, currency: str | None) -> QuerySet:
    return queryset.annotate(
        approval_policy_id=_policy_column("id", IntegerField(), currency),
        approval_manual_above=_policy_column("manual_change_above", AmountField(), currency),
        approval_payout_above=_policy_column("payout_above", AmountField(), currency),
        approval_nonzero_deletion=_policy_column("nonzero_deletion", BooleanField(), currency),
    )


# The same four columns for a raw statement that locks its row itself (the UPDATE ...
# RETURNING of a payout's hold): name -> (policy column, holds an amount).
_RAW_COLUMNS = {
    "approval_policy_id": ("id", False),
    "approval_manual_above": ("manual_change_above", True),
    "approval_payout_above": ("payout_above", True),
    "approval_nonzero_deletion": ("nonzero_deletion", False),
}


# The names of those columns, in the order rules_returning_sql lists them.
RULE_COLUMNS = tuple(_RAW_COLUMNS)


def rules_returning_sql(currency_column: str) -> str:
    """The policy of the currency in ``currency_column`` (an SQL expression of the outer
    statement) as the columns :func:`with_rules` adds, for a RETURNING or SELECT list.  The
    row comes back through :func:`rules_from_raw`."""
    table = connection.ops.quote_name(ApprovalPolicy._meta.db_table)
    # Identifiers only, from the model and the caller's code: no value is interpolated.
    return ", ".join(
        f"(SELECT p.{connection.ops.quote_name(column)} FROM {table} p "  # noqa: S608
        f"WHERE p.{connection.ops.quote_name('currency')} = {currency_column}) AS {name}"
        for name, (column, _) in _RAW_COLUMNS.items()
    )


def rules_from_raw(row: Model) -> Rules:
    """:func:`rules_from` for a row whose policy columns came from
    :func:`rules_returning_sql` (raw values: amounts in storage units)."""
    for name, (_, is_amount) in _RAW_COLUMNS.items():
        value = getattr(row, name, None)
        if is_amount and value is not None and not isinstance(value, Decimal):
            setattr(row, name, from_units(value))
    return rules_from(row)


def rules_from(row: Model, currency: str | None = None) -> Rules:
    """The rules for a row loaded through :func:`with_rules` (or :func:`with_rules_of`,
    naming its ``currency``)."""
    currency = currency or row.currency  # type: ignore[attr-defined]
    if getattr(row, "approval_policy_id", None) is None:
        return platform_defaults().get(currency) or Rules(currency=currency)
    return Rules(
        currency=currency,
        manual_change_above=row.approval_manual_above,  # type: ignore[attr-defined]
        payout_above=row.approval_payout_above,  # type: ignore[attr-defined]
        nonzero_deletion=bool(row.approval_nonzero_deletion),  # type: ignore[attr-defined]
        source="policy",
    )
