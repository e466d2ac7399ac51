"""Every write to balances goes through these functions (one transaction each, history
included).  Split by responsibility: manual changes here; synchronisation is in
``balances.sync``."""

from balances.actions.balance import balance_create, balance_delete, balance_update
from balances.actions.payout import (
    balance_debit_for_payout,
    balance_hold_for_payout,
    balance_release_for_payout,
)

__all__ = [
    "balance_create",
    "balance_debit_for_payout",
    "balance_delete",
    "balance_hold_for_payout",
    "balance_release_for_payout",
    "balance_update",
]
