"""Provider adapters.  Importing this package registers the adapters with
:func:`balances.providers.base.register`, in the order operators see them (kind choices, the
connection form, the API's enum); use :func:`balances.providers.base.get_adapter`.

A new provider is one module here (its class describes itself: see ``base.ProviderAdapter``),
one import below, its sandbox and its tests.
"""

from __future__ import annotations

from balances.providers import syncpay, finix, wise, payop  # noqa: F401  # isort: skip
