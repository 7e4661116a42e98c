"""How the fake Graph API names WhatsApp users: by phone number, by business-scoped user id (BSUID), or both.

Meta names users by phone number (``wa_id``) in 2025-era payloads and by BSUID (``user_id``, with an optional
``username``) from 2026, sometimes beside the phone number. Every payload of the fake that names a user (group
info, join requests, participant webhooks, message senders, status participants) asks :class:`Identities`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

__all__ = ["IDENTITY_MODES", "Identities", "bsuid_for"]

#: ``phone``: 2025-era payloads (phone numbers only); ``bsuid``: 2026 payloads without phone numbers;
#: ``both``: 2026 payloads that still carry the phone number beside the BSUID.
IDENTITY_MODES: Final = frozenset({"phone", "bsuid", "both"})


def bsuid_for(user: str) -> str:
    """Return the business-scoped user id the fake gives a user (a BSUID stays itself)."""
    if not user.isdigit():
        return user
    number = int.from_bytes(hashlib.sha256(user.encode()).digest()[:8], "big")
    return f"US.{number:020d}"


class Identities:
    """The fake's identity mode and the usernames users have chosen."""

    def __init__(self) -> None:
        #: How users are named in answers and webhooks: one of :data:`IDENTITY_MODES`.
        self.mode = "phone"
        #: Usernames by WhatsApp id, shown in BSUID-era payloads.
        self.usernames: dict[str, str] = {}

    @property
    def bsuid_era(self) -> bool:
        """Whether payloads are 2026 ones (BSUIDs shown, ``contacts[]`` beside statuses)."""
        return self.mode != "phone"

    def of(self, user: str, *, key: str = "wa_id") -> dict[str, Any]:
        """Return how a user is named in the current mode.

        ``key`` names the phone number's field (``wa_id`` in most payloads). In ``bsuid`` mode the phone number
        is left out, in ``phone`` mode the BSUID; a user known only by BSUID is always named by it.
        """
        named: dict[str, Any] = {}
        is_phone = user.isdigit()
        if is_phone and self.mode in ("phone", "both"):
            named[key] = user
        if self.mode in ("bsuid", "both") or not is_phone:
            named["user_id"] = bsuid_for(user)
            username = self.usernames.get(user)
            if username is not None:
                named["username"] = username
        return named
