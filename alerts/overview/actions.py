"""Writes started from the overview: one transition applied to several payouts.

Each payout goes through ``payouts.actions.payout_transition`` on its own, in its own
transaction, so one refusal (a payout that moved meanwhile, a state that does not allow the
transition) neither stops nor undoes the others."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.actors import Actor
from core.errors import DomainError, ValidationFailed
from payouts import actions as payout_actions
from payouts import queries as payout_queries


@dataclass(frozen=True)
class BulkOutcome:
    payout_id: str
    done: bool
    status: str  # the payout's status afterwards ("" when there is no such payout)
    message: str


def payouts_bulk_transition(
    *,
    selections: Sequence[tuple[str, int | None]],
    verb: str,
    actor: Actor,
    reason: str = "",
) -> list[BulkOutcome]:
    """Apply ``verb`` (process, pay, fail, cancel) to each ``(payout id, version seen)``;
    one outcome per payout, in the order given."""
    if verb not in payout_actions.ACTIONS:
        raise ValidationFailed(f"Unknown payout action {verb!r}.", field="action")
    to_status = payout_actions.ACTIONS[verb]
    outcomes = []
    for public_id, version in selections:
        status = ""
        try:
            payout = payout_queries.payout_get(public_id)
            status = payout.status
            payout = payout_actions.payout_transition(
                payout=payout,
                to_status=to_status,
                actor=actor,
                reason=reason,
                expected_version=version,
            )
        except DomainError as exc:
            outcomes.append(BulkOutcome(public_id, False, status, exc.message))
        else:
            outcomes.append(
                BulkOutcome(
                    public_id, True, payout.status, f"Payout {public_id} is now {payout.status}."
                )
            )
    return outcomes
