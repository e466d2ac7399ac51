"""Balances over time, read from their append-only history (``BalanceChange``): the
balances of a service (or of every service) as they were at any moment (``asof``), their
CSV export (``export``), and the series the charts draw.  Reads only; nothing here
writes."""
