"""ISO 3166-1 alpha-2 countries, named by Babel (already a dependency of django-money)."""

from __future__ import annotations

from functools import cache

from babel import Locale

# Babel's territory list also has regions and pseudo-codes that are not countries.
_NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"}


@cache
def countries() -> dict[str, str]:
    names = Locale("en").territories
    return dict(
        sorted(
            (
                (code, name)
                for code, name in names.items()
                if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
            ),
            key=lambda item: item[1],
        )
    )


def country_choices() -> list[tuple[str, str]]:
    return [(code, f"{name} ({code})") for code, name in countries().items()]


def is_country(code: str) -> bool:
    return code in countries()


def country_name(code: str) -> str:
    return countries().get(code, code)
