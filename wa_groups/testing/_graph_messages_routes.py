"""The fake Graph API's group messaging on the wire: sends answered, status webhooks, participants' messages.

:class:`GroupMessaging` answers ``POST /{phone_number_id}/messages`` with ``recipient_type: group`` (the routes
of :mod:`~wa_groups.testing._graph_routes` hand such a send over), then queues the status webhooks Meta would
send: ``sent`` (or ``failed``) for the group, ``delivered`` and ``read`` per participant, aggregated or not.
It also writes the inbound ``messages`` webhook of a participant's message. :class:`GroupMessagingMethods`
holds the :class:`~wa_groups.testing.FakeGraphAPI` methods that drive all this from a test.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from wa_groups.testing._graph_identity import IDENTITY_MODES
from wa_groups.testing._graph_messages_state import GroupMessages
from wa_groups.testing._graph_state import FakeGroup, GraphState, Refusal, normalize_user, timestamp
from wa_groups.testing._graph_wire import item_error
from wa_groups.testing._routing import json_response

__all__ = ["EmitValue", "GroupMessaging", "GroupMessagingMethods", "contact", "status_object"]

#: Queue a ``messages`` webhook: business number, the change's value (statuses, messages, contacts).
EmitValue = Callable[[str, dict[str, Any]], None]

_PRICING_FREE = {
    "billable": False,
    "pricing_model": "PMP",
    "type": "free_group_customer_service",
    "category": "group_service",
}
_UNSUPPORTED_ERROR = {
    "code": 131051,
    "title": "Message type unknown",
    "message": "Message type unknown",
    "error_data": {"details": "Message type is currently not supported."},
}


def status_object(
    message_id: str,
    group_id: str,
    status: str,
    now: int,
    participant: Mapping[str, Any] | None = None,
    *,
    spelling: str = "recipient_participant_id",
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return one status object of a group message, as Meta's ``messages`` webhook carries it.

    ``participant`` is how the user is named (``wa_id``/``user_id``); its phone number goes under
    ``spelling`` (Meta's pages use ``recipient_participant_id`` and ``participant_recipient_id``), its BSUID
    under ``recipient_participant_user_id``. Delivered and read statuses carry pricing, beside the conversation.
    """
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(now),
        "recipient_id": group_id,
        "recipient_type": "group",
    }
    if participant is not None:
        if "wa_id" in participant:
            item[spelling] = participant["wa_id"]
        if "user_id" in participant:
            item["recipient_participant_user_id"] = participant["user_id"]
        item["pricing"] = dict(_PRICING_FREE)
    if errors is not None:
        item["errors"] = errors
    return item


def contact(named: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """Return a ``contacts[]`` entry for a user named as ``named`` (``wa_id``, ``user_id``, ``username``)."""
    profile: dict[str, Any] = {}
    if name is not None:
        profile["name"] = name
    if "username" in named:
        profile["username"] = named["username"]
    entry: dict[str, Any] = {"profile": profile}
    for key in ("wa_id", "user_id"):
        if key in named:
            entry[key] = named[key]
    return entry


class GroupMessaging:
    """Group sends and their webhooks, over one :class:`GraphState` and one webhook queue."""

    def __init__(self, state: GraphState, emit_value: EmitValue) -> None:
        self._state = state
        self._emit_value = emit_value
        #: What was sent to each group.
        self.records = GroupMessages(state)
        #: Send ``sent`` then per-participant ``delivered`` and ``read`` webhooks after each group message.
        self.auto_statuses = True
        #: Group id -> error code: messages to these groups are reported ``failed`` instead of ``sent``.
        self.failing_groups: dict[str, int] = {}

    def answer_send(self, number: str, data: dict[str, Any]) -> web.Response:
        """Answer a group send (or pin) of business number ``number``, then queue its status webhooks.

        Raises:
            Refusal: Graph would refuse the message; the routes answer it in Graph's error envelope.

        """
        to = data.get("to")
        if not isinstance(to, str) or not to:
            raise Refusal(100, "The parameter to is required (the group id)")
        group = self._state.groups.get(to)
        if group is None and (to in self._state.numbers or normalize_user(to).isdigit()):
            # Meta refuses a recipient_type that does not match the kind of id in "to" at once.
            raise Refusal(100, "recipient_type group needs a group id in to, not a phone number")
        if group is None or group.phone_number_id != number:
            raise Refusal(131041, f"No group with id {to}")
        message_id = self.records.send(group, data)
        self.report_statuses(group, message_id)
        return json_response(
            {"messaging_product": "whatsapp", "contacts": [{"input": to}], "messages": [{"id": message_id}]}
        )

    def report_statuses(self, group: FakeGroup, message_id: str) -> None:
        """Queue the status webhooks of a group message: ``sent`` (or ``failed``), then delivered and read.

        Per-participant statuses come either in one delivery for all participants (Meta's aggregation) or
        one delivery each, chosen at random with the fake's seed.
        """
        if not self.auto_statuses:
            return
        now = timestamp()
        code = self.failing_groups.get(group.id)
        if code is not None:
            errors = [item_error(code, "The message could not be delivered to the group")]
            failed = status_object(message_id, group.id, "failed", now, errors=errors)
            self._emit_value(group.phone_number_id, {"statuses": [failed]})
            return
        self._emit_value(group.phone_number_id, {"statuses": [status_object(message_id, group.id, "sent", now)]})
        for status in ("delivered", "read"):
            self.report_participants(group, [message_id], list(group.participants), status, now)

    def report_participants(
        self, group: FakeGroup, message_ids: list[str], users: list[str], status: str, now: int
    ) -> None:
        """Queue ``status`` for every (message, participant) pair, aggregated or not (chosen at random)."""
        if not users or not message_ids:
            return
        rng = self._state.rng
        names = self._state.names
        items: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for user in users:
            named = names.of(user)
            spelling = rng.choice(("recipient_participant_id", "participant_recipient_id"))
            items.extend(
                (status_object(m, group.id, status, now, named, spelling=spelling), named) for m in message_ids
            )
        batches = [items] if rng.random() < 0.5 else [[item] for item in items]
        for batch in batches:
            value: dict[str, Any] = {"statuses": [item for item, _ in batch]}
            if names.bsuid_era:
                seen: dict[str, dict[str, Any]] = {}
                for _, named in batch:
                    seen.setdefault(str(named), contact(named))
                value["contacts"] = list(seen.values())
            self._emit_value(group.phone_number_id, value)

    def inbound(
        self,
        group: FakeGroup,
        user: str,
        text: str | None,
        *,
        name: str | None,
        media: Mapping[str, Any] | None,
        media_type: str,
        reply_to: str | None,
        unsupported: str | None,
    ) -> str:
        """Queue the ``messages`` webhook of a participant's message to a group and return the message id."""
        named = self._state.names.of(normalize_user(user))
        message_id = "wamid." + self._state.token(32)
        message: dict[str, Any] = {"group_id": group.id, "id": message_id, "timestamp": str(timestamp())}
        if "wa_id" in named:
            message["from"] = named["wa_id"]
        if "user_id" in named:
            message["from_user_id"] = named["user_id"]
        if unsupported is not None:
            message["type"] = "unsupported"
            message["unsupported"] = {"type": unsupported}
            message["errors"] = [dict(_UNSUPPORTED_ERROR)]
        elif media is not None:
            message["type"] = media_type
            message[media_type] = dict(media)
        else:
            message["type"] = "text"
            message["text"] = {"body": text or ""}
        if reply_to is not None:
            message["context"] = {"id": reply_to}
        self._emit_value(group.phone_number_id, {"contacts": [contact(named, name)], "messages": [message]})
        return message_id


class GroupMessagingMethods:
    """The group messaging methods of :class:`~wa_groups.testing.FakeGraphAPI` (a mixin of it)."""

    _state: GraphState
    _messaging: GroupMessaging

    @property
    def identities(self) -> str:
        """How users are named in answers and webhooks: ``phone``, ``bsuid`` or ``both``.

        ``phone`` gives 2025-era payloads (``wa_id`` only); ``bsuid`` gives 2026 payloads without phone numbers
        (``user_id`` and ``username``); ``both`` gives 2026 payloads that still carry the phone number.
        """
        return self._state.names.mode

    @identities.setter
    def identities(self, value: str) -> None:
        if value not in IDENTITY_MODES:
            raise ValueError(f"identities must be one of {sorted(IDENTITY_MODES)}, got {value!r}")
        self._state.names.mode = value

    @property
    def group_messages(self) -> list[dict[str, Any]]:
        """Messages accepted for groups (pins included), oldest first: ``id``, ``group_id``, ``type``, ``body``."""
        return self._messaging.records.sent

    @property
    def group_sends(self) -> collections.Counter[str]:
        """How many messages (pins excluded) each group accepted, by group id."""
        return self._messaging.records.sends

    @property
    def auto_statuses(self) -> bool:
        """Send ``sent``, ``delivered`` and ``read`` webhooks after each group message (True by default)."""
        return self._messaging.auto_statuses

    @auto_statuses.setter
    def auto_statuses(self, value: bool) -> None:
        self._messaging.auto_statuses = value

    def fail_messages_to(self, group_id: str, code: int | None = 131000) -> None:
        """Report later messages to a group as ``failed`` with ``code`` (``None`` stops it)."""
        if code is None:
            self._messaging.failing_groups.pop(group_id, None)
        else:
            self._messaging.failing_groups[group_id] = code

    def set_username(self, user: str, username: str) -> None:
        """Give a user a WhatsApp username, shown in BSUID-era payloads."""
        self._state.names.usernames[normalize_user(user)] = username

    def mark_read(self, group_id: str, user: str) -> list[str]:
        """Make a participant read every message of a group: one aggregated ``read`` webhook, many messages.

        Returns:
            The message ids reported read.

        """
        group = self._state.groups[group_id]
        ids = list(group.message_ids)
        self._messaging.report_participants(group, ids, [normalize_user(user)], "read", timestamp())
        return ids

    def participant_writes(
        self,
        group_id: str,
        user: str,
        text: str | None = None,
        *,
        name: str | None = None,
        media: Mapping[str, Any] | None = None,
        media_type: str = "image",
        reply_to: str | None = None,
        unsupported: str | None = None,
    ) -> str:
        """Make a participant write to a group: send the inbound ``messages`` webhook and return its id.

        Args:
            group_id: The group.
            user: The participant (a phone number or a BSUID), named as the identity mode says.
            text: The text of a text message.
            name: The participant's profile name.
            media: The media object (``id``, ``mime_type``, ``sha256``, ``caption``...) of a ``media_type``
                message, instead of text.
            media_type: ``image``, ``video``, ``audio``, ``document`` or ``sticker``.
            reply_to: The ``wamid`` the message replies to.
            unsupported: Send an unsupported message of this kind (e.g. ``poll_creation``) instead.

        """
        group = self._state.groups[group_id]
        return self._messaging.inbound(
            group,
            user,
            text,
            name=name,
            media=media,
            media_type=media_type,
            reply_to=reply_to,
            unsupported=unsupported,
        )
