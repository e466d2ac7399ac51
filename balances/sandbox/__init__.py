"""Built-in provider sandboxes: small imitations of the four providers' balance APIs.

Mounted at ``/sandbox/`` only when ``settings.PROVIDER_SANDBOXES`` is on (the embedded default
and the tests); a connection whose base URL is ``<server>/sandbox/<kind>`` then works without
any real provider account.  Each sandbox answers at its provider's documented path, in its
documented wire format, with its documented errors:

* **SyncPay** ``GET /sandbox/syncpay/api/v1/accounts/balances``: any Bearer key shaped
  ``sk_test_…``/``sk_live_…`` (6+ letters, digits or ``_`` after the prefix) is accepted; a
  missing or other key gets the documented 401 ``UNAUTHORIZED`` body, a key containing
  ``deactivated`` the documented 404 ``NOT_FOUND`` body.  Balances: USD, NGN, GHS (pending
  always ``"0.00"``) and USDT_TRC20 with 8 decimals; KES is zero and, as SyncPay documents for
  zero balances, left out of the array.
* **Finix** ``GET /sandbox/finix/balances/{balance_id}``: HTTP Basic with a username shaped
  ``US…`` (6+ letters or digits after ``US``) and the password ``sandbox-secret``; otherwise
  401.  Balance ids ``BL…`` ending in USD, EUR, GBP, JPY or KWD are balances in that currency
  (integer minor units: JPY has none, KWD three); ids starting ``BLforbidden`` get 403, any
  other id 404, all as HAL ``_embedded.errors`` documents.  A malformed ``Finix-Version`` gets
  422, an ``Accept`` header that excludes JSON 406.
* **Wise** ``GET /sandbox/wise/v4/profiles/{profileId}/balances?types=…``: a Bearer token
  shaped like a UUID is accepted, anything else gets 401 (``invalid_token``); a non-numeric
  profile id 404; a missing or invalid ``types`` 400.  STANDARD balances in EUR, GBP and USD;
  SAVINGS adds a EUR jar named "Tax reserve".  Amounts are JSON numbers.
* **Payop** ``GET /sandbox/payop/v1/wallets/get-balances``: a Bearer token shaped like a JWT
  (three dot-separated base64url parts) is accepted, otherwise the documented 401.  EUR and
  USD; USD ``pending`` carries chargeback adjustments and is negative.  ``includeTotal=1``
  adds ``total``; ``currency=EUR,USD`` filters, and a code that is not an ISO 4217 currency
  gets the documented 400.  More than 10 requests per minute from one IP get the documented
  429 with ``Retry-After`` (counted in this process: the sandboxes run in one process).

The sandboxes are stateless (no database): every figure is a pseudo-random walk keyed on the
credential, the balance and the current 15-second tick, restarting each UTC day, so the same
credential always sees the same balances at the same moment and "Update balances" a little
later shows real changes.
"""

from __future__ import annotations

# Credentials and options that work against the sandboxes; the demo-data loader uses them
# with base_url "<server>/sandbox/<kind>".
DEMO_CONNECTIONS: dict[str, dict] = {
    "syncpay": {
        "credentials": {"apiKey": "sk_test_sandbox_demo_4242"},
        "options": {},
    },
    "finix": {
        "credentials": {"username": "USsandboxDemo1", "password": "sandbox-secret"},
        "options": {
            "balanceIds": ["BLsandboxUSD", "BLsandboxJPY", "BLsandboxKWD"],
            "version": "2022-02-01",
        },
    },
    "wise": {
        "credentials": {"apiToken": "8c6f2b4e-5a1d-4f3b-9e7c-2d0a1b3c4d5e"},
        "options": {"profileId": "16000001", "types": ["STANDARD", "SAVINGS"]},
    },
    "payop": {
        "credentials": {
            "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzYW5kYm94LWRlbW8ifQ."
            "c2FuZGJveC1zaWduYXR1cmU"
        },
        "options": {"currencies": ["EUR", "USD"]},
    },
}
