"""Stored words made readable for operators, at display time.

What the database keeps stays as it is (actor labels such as ``sync:finix`` or
``payout:po_…``, audit ``changes`` keyed by field names, provider extras keyed as the provider
spells them); pages show them through these functions (core/templatetags/plain.py):

* ``actor_text("sync:finix")`` -> "Finix sync"; ``actor_text("payout:po_1")`` -> "payout po_1".
* ``change_sentences({"options": [None, {"profileId": "16060"}]})`` -> ["Profile ID set to
  16060"].
* ``figure_items({"balanceIds": ["BL1"], "posted": "1.00"})`` -> [("Balance IDs", "BL1"),
  ("Posted", "1.00")].

Provider names live in balances (a higher layer): it hands core a function that names a
provider kind when it starts (``set_provider_labeler`` in BalancesConfig.ready).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_labeler: Callable[[str], str] | None = None

# Stored field and key names whose plain name is not just their words.
_NAMES = {
    "base_url": "Base URL",
    "url": "URL",
    "kind": "Provider",
    "options": "Options",
    "credentials": "Credentials",
    "create_missing_balances": "Create missing balances",
    "fee_profile": "Fee profile",
    "fixed_amount": "Fixed amount",
    "minimum_payout_amount": "Minimum payout",
}
# Abbreviations written in capitals once split into words.
_CAPITALS = {"id": "ID", "ids": "IDs", "url": "URL", "urls": "URLs", "usd": "USD", "api": "API"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def counted(value: Any, noun: str, plural: str = "") -> str:
    """``counted(1, "minute")`` -> "1 minute", ``counted("5", "minute")`` -> "5 minutes"."""
    one = str(value).strip() in ("1", "1.0", "-1")
    return f"{value} {noun if one else (plural or noun + 's')}"


def set_provider_labeler(labeler: Callable[[str], str]) -> None:
    global _labeler
    _labeler = labeler


def provider_name(kind: str) -> str:
    return _labeler(kind) if _labeler is not None else kind


def field_label(name: str) -> str:
    """``base_url`` -> "Base URL", ``profileId`` -> "Profile ID", ``balanceIds`` ->
    "Balance IDs"."""
    if name in _NAMES:
        return _NAMES[name]
    words = _CAMEL.sub(" ", str(name)).replace("_", " ").split()
    if not words:
        return str(name)
    shown = [_CAPITALS.get(w.lower(), w.lower()) for w in words]
    first = shown[0]
    shown[0] = first if first in _CAPITALS.values() else first.capitalize()
    return " ".join(shown)


def value_text(value: Any) -> str:
    """A stored value as words: lists joined, objects as "Key value" pairs, no ``None``."""
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value) or "none"
    if isinstance(value, Mapping) and "name" in value:
        # A named part (a Wise jar): "Rent 5.00".
        rest = [value_text(v) for k, v in value.items() if k != "name"]
        return " ".join([str(value["name"]), *rest])
    if isinstance(value, Mapping):
        return "; ".join(f"{field_label(str(k))} {value_text(v)}" for k, v in value.items())
    return str(value)


def actor_text(label: str) -> str:
    """Who made a change, as the stored label (core.actors.Actor.label) reads to a person."""
    kind, _, rest = str(label).partition(":")
    if kind == "sync" and rest:
        return f"{provider_name(rest)} sync"
    if kind == "payout" and rest:
        return f"payout {rest}"
    if kind == "approvals" and rest == "expiry":
        return "approval expiry"
    return str(label)


def actor_payout_id(label: str) -> str:
    """The payout's public id when a payout made the change, else ""."""
    kind, _, rest = str(label).partition(":")
    return rest if kind == "payout" else ""


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def _change(label: str, old: Any, new: Any) -> str:
    if isinstance(new, bool) and (old is None or isinstance(old, bool)):
        return f"{label} turned {'on' if new else 'off'}"
    if _empty(old):
        return f"{label} set to {value_text(new)}"
    if _empty(new):
        return f"{label} removed (was {value_text(old)})"
    return f"{label} changed from {value_text(old)} to {value_text(new)}"


def _option_changes(old: Any, new: Any) -> list[str]:
    before = old if isinstance(old, Mapping) else {}
    after = new if isinstance(new, Mapping) else {}
    return [
        _change(field_label(str(key)), before.get(key), after.get(key))
        for key in sorted(set(before) | set(after), key=str)
        if before.get(key) != after.get(key)
    ]


def _provider(value: Any) -> Any:
    return provider_name(value) if isinstance(value, str) and value else value


def _credentials(value: Any) -> str:
    text = str(value)
    if text == "bound":
        return "Credentials kept for this provider and base URL"
    if text.startswith("changed: "):
        names = [field_label(n.strip()) for n in text.removeprefix("changed: ").split(",")]
        return f"Credentials changed: {', '.join(names)}"
    return f"Credentials: {text}"


def change_sentences(changes: Mapping[str, Any] | None) -> list[str]:
    """An audit entry's ``changes`` ({"field": [old, new]} or {"field": value}) as sentences."""
    sentences: list[str] = []
    for key, value in (changes or {}).items():
        is_pair = isinstance(value, list) and len(value) == 2
        if key == "credentials" and not is_pair:
            sentences.append(_credentials(value))
        elif key == "options" and is_pair:
            sentences.extend(_option_changes(value[0], value[1]))
        elif key == "paused" and is_pair:
            sentences.append("Scheduled updates " + ("paused" if value[1] else "resumed"))
        elif key == "kind" and is_pair:
            sentences.append(_change("Provider", _provider(value[0]), _provider(value[1])))
        elif is_pair:
            sentences.append(_change(field_label(key), value[0], value[1]))
        else:
            sentences.append(f"{field_label(key)}: {value_text(value)}")
    return sentences


def figure_items(extras: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """A provider's other figures for one currency (``providerFigures`` of a sync run)."""
    return [(field_label(str(k)), value_text(v)) for k, v in (extras or {}).items()]
