"""Who made a change: a user, a provider sync, a payout, or the system."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models


class ActorType(models.TextChoices):
    USER = "user", "User"
    SYNC = "sync", "Provider sync"
    PAYOUT = "payout", "Payout"
    SYSTEM = "system", "System"


@dataclass(frozen=True)
class Actor:
    type: str
    label: str
    user: Any = None  # a User for ActorType.USER
    sync_run: Any = None  # a SyncRun for ActorType.SYNC
    payout_public_id: str = ""
    # How a user acted: "session" (pages, the browsable API) or "key:<prefix>" (an API key).
    # Kept in the audit log; never a secret (a key's prefix is shown on the API keys page).
    via: str = ""

    @classmethod
    def for_user(cls, user: Any, via: str = "") -> Actor:
        return cls(type=ActorType.USER, label=user.get_username(), user=user, via=via)

    @classmethod
    def for_request(cls, request: Any) -> Actor:
        """The signed-in user of a page or API request, with the API key or session used."""
        key = getattr(request, "auth", None)
        prefix = getattr(key, "prefix", "")
        return cls.for_user(request.user, via=f"key:{prefix}" if prefix else "session")

    @classmethod
    def for_sync(cls, run: Any) -> Actor:
        return cls(type=ActorType.SYNC, label=f"sync:{run.provider_kind}", sync_run=run)

    @classmethod
    def for_payout(cls, payout_public_id: str) -> Actor:
        return cls(
            type=ActorType.PAYOUT,
            label=f"payout:{payout_public_id}",
            payout_public_id=payout_public_id,
        )

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(type=ActorType.SYSTEM, label=label)

    def history_fields(self) -> dict[str, Any]:
        return {
            "actor_type": self.type,
            "actor_label": self.label[:150],
            "actor_user": self.user,
            "sync_run": self.sync_run,
            "payout_public_id": self.payout_public_id,
        }
