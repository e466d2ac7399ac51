"""What a snapshot would do to a service's balances: a pure function, shared by the sync
(which applies it) and by Test connection (which only shows it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from balances.models import Balance
from balances.providers.base import CurrencyFigures, Snapshot
from core.money import currencies

UPDATE = "updated"
UNCHANGED = "unchanged"
CREATE = "created"
SKIP = "skipped"
NOT_REPORTED = "not_reported"
# A value set by hand inside the protection window that the provider contradicts: not written,
# held for an operator to decide (BalanceReview).
HELD = "held_for_review"

FIGURES = ("available", "pending", "reserved")


@dataclass(frozen=True)
class Figures:
    available: Decimal
    pending: Decimal
    reserved: Decimal

    @classmethod
    def of(cls, obj: Any) -> Figures:
        return cls(obj.available, obj.pending, obj.reserved)

    @classmethod
    def zero(cls) -> Figures:
        return cls(Decimal(0), Decimal(0), Decimal(0))


@dataclass(frozen=True)
class CurrencyPlan:
    currency: str
    action: str
    old: Figures | None = None
    new: Figures | None = None
    note: str = ""
    # Set when the value being replaced was last written by an operator by hand.
    replaced_manual: Mapping[str, str] | None = None
    # The provider's other figures for this currency (Finix posted, Payop referral/total…).
    extras: Mapping[str, Any] = field(default_factory=dict)
    # Set when the new available figure is less than what open payouts hold on the balance:
    # applied all the same (the provider is the truth), and said, for an operator to act.
    below_holds: Mapping[str, str] | None = None
    # For HELD: the value set by hand and the provider's, as plain strings, and whether an
    # operator already chose to keep the manual value against these same provider figures.
    held: Mapping[str, Any] | None = None

    def changed_figures(self) -> list[str]:
        if self.old is None or self.new is None:
            return []
        return [f for f in FIGURES if getattr(self.old, f) != getattr(self.new, f)]

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"currency": self.currency, "action": self.action}
        for name in FIGURES:
            old = getattr(self.old, name) if self.old else None
            new = getattr(self.new, name) if self.new else None
            if old is None and new is None:
                continue
            data[name] = {
                "old": None if old is None else _plain(old, self.currency),
                "new": None if new is None else _plain(new, self.currency),
            }
        if self.note:
            data["note"] = self.note
        if self.replaced_manual:
            data["replacedManualEdit"] = dict(self.replaced_manual)
        if self.below_holds:
            data["belowHolds"] = dict(self.below_holds)
        if self.held:
            data["heldForReview"] = dict(self.held)
        if self.extras:
            data["providerFigures"] = _jsonable(self.extras, self.currency)
        return data


@dataclass(frozen=True)
class Plan:
    entries: tuple[CurrencyPlan, ...]
    snapshot_extras: Mapping[str, Any] = field(default_factory=dict)

    def with_action(self, action: str) -> list[CurrencyPlan]:
        return [e for e in self.entries if e.action == action]

    @property
    def counts(self) -> dict[str, int]:
        return {
            "updated": len(self.with_action(UPDATE)),
            "unchanged": len(self.with_action(UNCHANGED)),
            "created": len(self.with_action(CREATE)),
            "skipped": len(self.with_action(SKIP)),
            "notReported": len(self.with_action(NOT_REPORTED)),
            "heldForReview": len(self.with_action(HELD)),
        }

    def as_result(self, *, taken_at: str) -> dict[str, Any]:
        return {
            "takenAt": taken_at,
            "counts": self.counts,
            "currencies": [e.as_dict() for e in self.entries],
            "skipped": [{"currency": e.currency, "reason": e.note} for e in self.with_action(SKIP)],
            "notReported": [e.currency for e in self.with_action(NOT_REPORTED)],
            "replacedManualEdits": [
                {"currency": e.currency, **e.replaced_manual}
                for e in self.entries
                if e.replaced_manual
            ],
            "belowHolds": [
                {"currency": e.currency, **e.below_holds} for e in self.entries if e.below_holds
            ],
            "heldForReview": [
                {"currency": e.currency, **e.held} for e in self.with_action(HELD) if e.held
            ],
            "provider": _jsonable(self.snapshot_extras),
        }


def _plain(value: Decimal, currency: str) -> str:
    """ "12850.75" rather than the stored "12850.75000000"; never rounded."""
    try:
        return currencies.plain_amount(value, currency)
    except currencies.AmountError:
        return format(value.normalize(), "f")  # never "1E+2" or "0E-8"


def _jsonable(value: Any, currency: str = "") -> Any:
    """JSON-ready; a Decimal as plain digits (never "0E-8"), with ``currency``'s digits for
    one currency's figures."""
    if isinstance(value, Decimal):
        return _plain(value, currency) if currency else format(value, "f")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, currency) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, currency) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def plan_snapshot(
    *,
    balances: Iterable[Balance],
    snapshot: Snapshot,
    provider_label: str,
    create_missing: bool,
    protect_since: datetime | None = None,
    kept: Mapping[str, Figures] | None = None,
) -> Plan:
    """``protect_since``: a balance set by hand at or after it is protected (None: none is).
    ``kept``: per currency, the provider figures an operator already decided to keep the
    manual value against (for the balance's current version)."""
    reported = snapshot.by_currency()
    protection = Protection(protect_since, kept or {})
    existing = {b.currency: b for b in balances}
    entries: list[CurrencyPlan] = []
    for currency in sorted(set(existing) | set(reported)):
        balance = existing.get(currency)
        figures = reported.get(currency)
        if balance is None:
            assert figures is not None
            entries.append(_plan_missing(currency, figures, create_missing=create_missing))
        else:
            entries.append(_plan_existing(balance, figures, snapshot, provider_label, protection))
    for code in snapshot.extras.get("unsupported_currencies", []) or []:
        if code not in existing and code not in reported:
            entries.append(
                CurrencyPlan(str(code), SKIP, note="currency not supported by this back-office")
            )
    extras = {k: v for k, v in snapshot.extras.items() if k != "unsupported_currencies"}
    return Plan(entries=tuple(entries), snapshot_extras=extras)


def _plan_missing(currency: str, figures: CurrencyFigures, *, create_missing: bool) -> CurrencyPlan:
    """A currency the provider reports and the service has no balance in."""
    new = Figures.of(figures)
    if create_missing:
        return CurrencyPlan(currency, CREATE, None, new, extras=figures.extras)
    return CurrencyPlan(
        currency,
        SKIP,
        None,
        new,
        note="no balance in this currency (turn on “create missing balances”)",
        extras=figures.extras,
    )


def edited_by_hand(balance: Balance) -> bool:
    """Last written by an operator's change of its value (an edit, or a change applied by
    approving a request).  A balance only created by hand (version 1) is not: its opening
    amount is where it starts until the provider's first report."""
    return balance.set_by_hand and balance.version > 1


@dataclass(frozen=True)
class Protection:
    """Which values set by hand a sync leaves alone (``SYNC_PROTECTION_HOURS``)."""

    since: datetime | None
    kept: Mapping[str, Figures]

    def covers(self, balance: Balance) -> bool:
        return (
            self.since is not None and edited_by_hand(balance) and balance.updated_at >= self.since
        )


def _plan_existing(
    balance: Balance,
    figures: CurrencyFigures | None,
    snapshot: Snapshot,
    provider_label: str,
    protection: Protection,
) -> CurrencyPlan:
    """A balance of the service, reported by the provider (``figures``) or not (None)."""
    currency = balance.currency
    old = Figures.of(balance)
    note = ""
    if figures is None:
        if not snapshot.omitted_means_zero:
            return CurrencyPlan(
                currency,
                NOT_REPORTED,
                old,
                None,
                note=f"not reported by {provider_label}; left unchanged",
            )
        new = Figures.zero()
        note = f"not reported by {provider_label}, which leaves out zero balances"
    else:
        new = Figures.of(figures)
    extras = figures.extras if figures is not None else {}
    if new.available != old.available and protection.covers(balance):
        return _plan_held(balance, old, new, note, extras, protection)
    below = _below_holds(balance, new)
    if below:
        shown = f"{below['held']} {currency}"
        note = (note + "; " if note else "") + f"below what open payouts hold ({shown})"
    if new == old:
        return CurrencyPlan(
            currency, UNCHANGED, old, new, note=note, extras=extras, below_holds=below
        )
    manual = None
    if balance.set_by_hand:
        manual = {"by": balance.updated_by_label, "at": balance.updated_at.isoformat()}
    return CurrencyPlan(
        currency,
        UPDATE,
        old,
        new,
        note=note,
        replaced_manual=manual,
        extras=extras,
        below_holds=below,
    )


def _plan_held(
    balance: Balance,
    old: Figures,
    new: Figures,
    note: str,
    extras: Mapping[str, Any],
    protection: Protection,
) -> CurrencyPlan:
    """The provider contradicts the available amount set by hand inside the window: the
    balance is left as it is (pending and reserved too, they are one snapshot)."""
    currency = balance.currency
    kept = protection.kept.get(currency) == new
    held = {
        "by": balance.updated_by_label,
        "at": balance.updated_at.isoformat(),
        "manual": _plain(balance.available, currency),
        "provider": _plain(new.available, currency),
        "difference": _plain(new.available - balance.available, currency),
        "kept": kept,
    }
    said = (
        f"the value set by hand by {balance.updated_by_label or 'an operator'} was kept by "
        "decision; the provider still reports the same"
        if kept
        else f"set by hand by {balance.updated_by_label or 'an operator'}; held for review"
    )
    note = (note + "; " if note else "") + said
    return CurrencyPlan(currency, HELD, old, new, note=note, extras=extras, held=held)


def _below_holds(balance: Balance, new: Figures) -> dict[str, str] | None:
    """What the holds and the new available figure are, when that is less than the holds."""
    if new.available >= balance.held:
        return None
    return {
        "held": _plain(balance.held, balance.currency),
        "available": _plain(new.available, balance.currency),
    }
