"""Every write to balances goes through these functions (one transaction each, history
included).  Split by responsibility: manual changes here; synchronisation is in
``balances.sync``."""

from balances.actions.balance import (
    ApprovalRequired,
    balance_create,
    balance_create_or_request,
    balance_delete,
    balance_delete_or_request,
    balance_update,
    balance_update_or_request,
)
from balances.actions.payout import (
    balance_debit_for_payout,
    balance_hold_for_payout,
    balance_release_for_payout,
)

__all__ = [
    "ApprovalRequired",
    "balance_create",
    "balance_create_or_request",
    "balance_debit_for_payout",
    "balance_delete",
    "balance_delete_or_request",
    "balance_hold_for_payout",
    "balance_release_for_payout",
    "balance_update",
    "balance_update_or_request",
]
