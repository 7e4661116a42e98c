"""Messages to groups (pure): the group checks, the send envelope, pin bodies and the send answer.

A group message is an ordinary Cloud API message (``POST /{phone_number_id}/messages``) with
``recipient_type: "group"`` and the group id in ``to``; see Meta's group messaging page
(https://developers.facebook.com/documentation/business-messaging/whatsapp/groups/groups-messaging).
The public builders in :mod:`wa_groups.messages` return the type-specific part of a message
(``{"type": "text", "text": {...}}``), which :meth:`~wa_groups.GroupsClient.send_message` completes here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .._core.coerce import as_id, as_text
from ..errors import ClientValidationError, ResponseError
from ..models import SentMessage
from .checks import check_id
from .endpoints import MESSAGING_PRODUCT

__all__ = [
    "AUTH_TEMPLATE_HINT",
    "PIN_DAYS_MAX",
    "PIN_DAYS_MIN",
    "UNSUPPORTED_IN_GROUPS",
    "check_group_message",
    "check_pin_days",
    "decode_group_send",
    "group_message_body",
    "pin_body",
]

#: A pin lasts 1..30 whole days (Meta's group messaging page).
PIN_DAYS_MIN: Final = 1
PIN_DAYS_MAX: Final = 30
#: Message types Meta documents as not supported in groups, with the reason given in the refusal.
UNSUPPORTED_IN_GROUPS: Final[Mapping[str, str]] = {
    "interactive": "interactive messages are not supported in groups",
    "order": "commerce messages are not supported in groups",
    "product": "commerce messages are not supported in groups",
    "product_list": "commerce messages are not supported in groups",
    "catalog_message": "commerce messages are not supported in groups",
    "voice_call": "calling is not available in groups",
    "call_permission_request": "calling is not available in groups",
}
#: Envelope fields the client sets itself; a message passed to ``send_message`` may not carry them.
_ENVELOPE: Final = frozenset({"messaging_product", "recipient_type", "to", "recipient"})


def check_group_message(message: object) -> dict[str, Any]:
    """Return a copy of ``message`` if it may go to a group, else raise naming what Meta does not support.

    Refused before any request: a message without a ``type`` or without its ``type``'s object, envelope fields
    (the client sets them), the types Meta documents as unsupported in groups (:data:`UNSUPPORTED_IN_GROUPS`),
    view-once media and disappearing-message settings. Other types (stickers, reactions, locations...) are
    neither documented as supported nor as refused: they go out, and Graph's answer decides.
    """
    if not isinstance(message, Mapping):
        raise ClientValidationError(f"message must be a JSON object (a dict), got {message!r}", argument="message")
    kind = message.get("type")
    if not isinstance(kind, str) or not kind:
        raise ClientValidationError("message needs a 'type', e.g. 'text'", argument="message")
    if kind in UNSUPPORTED_IN_GROUPS:
        raise ClientValidationError(
            f"message type {kind!r} cannot be sent to a group: {UNSUPPORTED_IN_GROUPS[kind]}", argument="message"
        )
    present = sorted(_ENVELOPE.intersection(message))
    if present:
        raise ClientValidationError(
            f"message must not set {', '.join(present)}: the client fills in the envelope", argument="message"
        )
    if kind == "pin":
        raise ClientValidationError("use pin_message()/unpin_message() to pin a message", argument="message")
    if kind not in message:
        raise ClientValidationError(f"a {kind!r} message needs a {kind!r} object", argument="message")
    body = message[kind]
    if isinstance(body, Mapping) and (body.get("view_once") or body.get("viewOnce")):
        raise ClientValidationError("view-once media is not supported in groups", argument="message")
    for key in ("ephemeral", "ephemeral_expiration", "disappearing"):
        if key in message:
            raise ClientValidationError(
                f"disappearing messages ({key!r}) are not supported in groups", argument="message"
            )
    return dict(message)


def group_message_body(group_id: str, message: Mapping[str, Any]) -> dict[str, Any]:
    """Return the full body of a message to a group: the envelope, then the message's own fields."""
    return {
        "messaging_product": MESSAGING_PRODUCT,
        "recipient_type": "group",
        "to": check_id(group_id, "group_id"),
        **message,
    }


def check_pin_days(days: object) -> int:
    """Return ``days`` if it is a whole number of days in 1..30, else raise naming it."""
    if isinstance(days, bool) or not isinstance(days, int) or not PIN_DAYS_MIN <= days <= PIN_DAYS_MAX:
        raise ClientValidationError(
            f"days must be a whole number of days in {PIN_DAYS_MIN}..{PIN_DAYS_MAX}, got {days!r}", argument="days"
        )
    return days


def pin_body(group_id: str, message_id: str, days: int | None) -> dict[str, Any]:
    """Return the body that pins (``days`` given) or unpins (``days=None``) a group message."""
    pin: dict[str, Any] = {
        "type": "pin" if days is not None else "unpin",
        "message_id": check_id(message_id, "message_id"),
    }
    if days is not None:
        pin["expiration_days"] = check_pin_days(days)
    return group_message_body(group_id, {"type": "pin", "pin": pin})


#: Why Graph may refuse a template sent to a group although its body looks fine.
AUTH_TEMPLATE_HINT: Final = (
    "authentication templates cannot be sent to groups; if this is one, use a text- or media-based template"
)


def decode_group_send(decoded: Any, group_id: str, operation: str) -> SentMessage:
    """Decode the answer to a group send; the answer must carry the new message's ``wamid``.

    Raises:
        ResponseError: No message id in the answer (the message may have been sent: the caller marks the
            outcome unknown).

    """
    if not isinstance(decoded, Mapping):
        raise ResponseError(f"{operation}: expected a JSON object, got {type(decoded).__name__}")
    messages = decoded.get("messages")
    contacts = decoded.get("contacts")
    first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], Mapping) else {}
    contact = contacts[0] if isinstance(contacts, list) and contacts and isinstance(contacts[0], Mapping) else {}
    message_id = as_id(first.get("id"))
    if message_id is None:
        raise ResponseError(f"{operation}: the answer carries no message id")
    return SentMessage(
        message_id=message_id,
        group_id=as_id(first.get("group_id")) or group_id,
        wa_id=as_id(contact.get("wa_id")),
        input=as_id(contact.get("input")),
        user_id=as_id(contact.get("user_id")),
        message_status=as_text(first.get("message_status")),
    )
