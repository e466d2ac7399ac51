"""Provider adapters.  Importing this package registers the four adapters with
:func:`balances.providers.base.register`; use :func:`balances.providers.base.get_adapter`."""

from __future__ import annotations

from balances.providers import finix, payop, syncpay, wise  # noqa: F401  (they register)
