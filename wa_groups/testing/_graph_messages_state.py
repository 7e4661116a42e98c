"""The fake Graph API's group messages: the rules Graph applies to a send or a pin, and the record of what was sent.

Nothing here speaks HTTP: a refused message raises :class:`~wa_groups.testing._graph_state.Refusal`, which the
routes answer in Graph's error envelope. The message types and the pin limits are the fake's own copy of
Meta's, kept apart from the client's tables on purpose (a fake sharing them could not catch their mistakes).
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any, Final

from wa_groups.testing._graph_state import FakeGroup, GraphState, Refusal, b64

__all__ = ["GROUP_MESSAGE_TYPES", "MAX_PINNED", "GroupMessages", "apply_pin", "check_group_message"]

#: At most this many messages are pinned in a group; pinning one more unpins the oldest.
MAX_PINNED: Final = 3
#: Days a pin may last.
PIN_DAYS: Final = range(1, 31)
#: Message types the fake accepts for groups (Meta: text, media, text/media templates; pin for admins). Types
#: Meta neither allows nor forbids (stickers, reactions...) are accepted too, as the real API decides them.
GROUP_MESSAGE_TYPES: Final = frozenset(
    {"text", "image", "video", "audio", "document", "template", "sticker", "reaction", "location", "contacts"}
)
_MEDIA_TYPES: Final = frozenset({"image", "video", "audio", "document", "sticker"})


def check_group_message(group: FakeGroup, data: Mapping[str, Any]) -> str:
    """Refuse a group message Graph would refuse; return its type."""
    if group.suspended:
        raise Refusal(131207, "The group is suspended")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise Refusal(100, "The parameter type is required")
    if kind == "pin":
        return "pin"
    if kind == "interactive":
        raise Refusal(131009, "Interactive messages are not supported in groups")
    if kind not in GROUP_MESSAGE_TYPES:
        raise Refusal(100, f"Unsupported message type {kind!r}")
    content = data.get(kind)
    if not isinstance(content, dict):
        raise Refusal(100, f"The parameter {kind} is required")
    if kind == "text" and (not isinstance(content.get("body"), str) or not content["body"]):
        raise Refusal(100, "The parameter text.body is required")
    if kind in _MEDIA_TYPES and not (content.get("id") or content.get("link")):
        raise Refusal(100, f"{kind} needs an id or a link")
    if kind == "template":
        name = content.get("name")
        language = content.get("language")
        if not isinstance(name, str) or not name or not isinstance(language, dict) or not language.get("code"):
            raise Refusal(100, "template needs a name and a language code")
        if "auth" in name.lower() or "otp" in name.lower():
            raise Refusal(131009, "Authentication templates cannot be sent to groups")
    if not group.participants:
        raise Refusal(131020, "Bad Group: cannot send messages to single member groups")
    return kind


def apply_pin(group: FakeGroup, pin: Any) -> None:
    """Pin or unpin a message of the group as Graph does: 1..30 days, at most 3 pinned, the oldest evicted."""
    if not isinstance(pin, dict) or pin.get("type") not in ("pin", "unpin"):
        raise Refusal(100, "pin.type must be pin or unpin")
    message_id = pin.get("message_id")
    if not isinstance(message_id, str) or message_id not in group.message_ids:
        raise Refusal(100, f"No message {message_id!r} in this group")
    if pin["type"] == "unpin":
        if "expiration_days" in pin:
            raise Refusal(100, "expiration_days is only for pin")
        if message_id not in group.pinned:
            raise Refusal(100, "The message is not pinned")
        group.pinned.remove(message_id)
        return
    days = pin.get("expiration_days")
    if isinstance(days, bool) or not isinstance(days, int) or days not in PIN_DAYS:
        raise Refusal(100, "pin.expiration_days must be an integer from 1 to 30")
    if message_id in group.pinned:
        group.pinned.remove(message_id)
    group.pinned.append(message_id)
    del group.pinned[:-MAX_PINNED]


class GroupMessages:
    """Every message the fake accepted for a group, and how many each group received.

    The groups themselves (participants, suspension, pins) live in the :class:`GraphState` given.
    """

    def __init__(self, state: GraphState) -> None:
        self._state = state
        #: Messages accepted for groups (pins included), oldest first: ``id``, ``group_id``, ``type``, ``body``.
        self.sent: list[dict[str, Any]] = []
        #: How many sends (pins excluded) each group accepted; above 1 for one broadcast means a duplicate.
        self.sends: collections.Counter[str] = collections.Counter()

    def send(self, group: FakeGroup, data: dict[str, Any]) -> str:
        """Accept a message (or a pin) for a live group and return its new message id."""
        kind = check_group_message(group, data)
        if kind == "pin":
            apply_pin(group, data.get("pin"))
        message_id = "wamid." + b64(f"{group.id[:12]}:{self._state.token(24)}")
        if kind != "pin":
            group.message_ids.append(message_id)
            self.sends[group.id] += 1
        self.sent.append({"id": message_id, "group_id": group.id, "type": kind, "body": data})
        return message_id
