"""Reviews of syncs held back by a value set by hand (``BalanceReview``): the operator's
decision (``actions.py``), reads (``queries.py``), closing reviews that went away by themselves
(``clearing.py``), the review page and the API.  What a sync holds and records is in
``balances/sync/held.py``."""
