"""Messages to groups (pure): message builders, the group checks, pin bodies and the send answer.

A group message is an ordinary Cloud API message (``POST /{phone_number_id}/messages``) with
``recipient_type: "group"`` and the group id in ``to``; see Meta's group messaging page
(https://developers.facebook.com/documentation/business-messaging/whatsapp/groups/groups-messaging).
The builders return the type-specific part of a message (``{"type": "text", "text": {...}}``), which
:meth:`~wa_groups.GroupsClient.send_message` completes with the envelope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .._core.coerce import as_id, as_text
from ..errors import ClientValidationError, ResponseError
from ..models import SentMessage
from .checks import check_id
from .endpoints import MESSAGING_PRODUCT

__all__ = [
    "AUTH_TEMPLATE_HINT",
    "MEDIA_TYPES",
    "PIN_DAYS_MAX",
    "PIN_DAYS_MIN",
    "UNSUPPORTED_IN_GROUPS",
    "check_group_message",
    "check_pin_days",
    "decode_group_send",
    "group_message_body",
    "media_message",
    "pin_body",
    "template_message",
    "text_message",
]

#: The media kinds Meta documents for groups ("media": image, video, audio, document).
MEDIA_TYPES: Final = ("image", "video", "audio", "document")
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
_TEXT_MAX_CHARS: Final = 4096
_CAPTION_MAX_CHARS: Final = 1024


def _text(value: object, argument: str, maximum: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ClientValidationError(f"{argument} must be a non-empty string, got {value!r}", argument=argument)
    if len(value) > maximum:
        raise ClientValidationError(
            f"{argument} must be at most {maximum} characters, got {len(value)}", argument=argument
        )
    return value


def text_message(body: str, *, preview_url: bool | None = None, reply_to: str | None = None) -> dict[str, Any]:
    """Return a text message for :meth:`~wa_groups.GroupsClient.send_message` (or a broadcast).

    Args:
        body: The text, 1..4096 characters.
        preview_url: Ask WhatsApp to render a preview of the first link (``None`` leaves Graph's default).
        reply_to: The ``wamid`` of a message this one replies to (``context.message_id``).

    """
    text: dict[str, Any] = {"body": _text(body, "text", _TEXT_MAX_CHARS)}
    if preview_url is not None:
        if not isinstance(preview_url, bool):
            raise ClientValidationError(
                f"preview_url must be True or False, got {preview_url!r}", argument="preview_url"
            )
        text["preview_url"] = preview_url
    message: dict[str, Any] = {"type": "text", "text": text}
    return _with_context(message, reply_to)


def media_message(
    media_type: str,
    *,
    link: str | None = None,
    media_id: str | None = None,
    caption: str | None = None,
    filename: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """Return an image, video, audio or document message: exactly one of ``link`` or ``media_id``.

    Args:
        media_type: ``image``, ``video``, ``audio`` or ``document``.
        link: An https URL WhatsApp downloads the media from.
        media_id: The id of media uploaded to Graph beforehand.
        caption: A caption (not for audio), at most 1024 characters.
        filename: The file name shown for a document.
        reply_to: The ``wamid`` of a message this one replies to.

    """
    if media_type not in MEDIA_TYPES:
        raise ClientValidationError(
            f"media_type must be one of {', '.join(MEDIA_TYPES)}, got {media_type!r}", argument="media_type"
        )
    if (link is None) == (media_id is None):
        raise ClientValidationError("give exactly one of link= or media_id=", argument="link")
    media: dict[str, Any] = {}
    if link is not None:
        if not isinstance(link, str) or not link.startswith(("https://", "http://")):
            raise ClientValidationError(f"link must be an http(s) URL, got {link!r}", argument="link")
        media["link"] = link
    else:
        media["id"] = check_id(media_id, "media_id")
    if caption is not None:
        if media_type == "audio":
            raise ClientValidationError("audio messages take no caption", argument="caption")
        media["caption"] = _text(caption, "caption", _CAPTION_MAX_CHARS)
    if filename is not None:
        if media_type != "document":
            raise ClientValidationError("only documents take a filename", argument="filename")
        media["filename"] = _text(filename, "filename", 240)
    return _with_context({"type": media_type, media_type: media}, reply_to)


def template_message(
    name: str, language: str, *, components: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Return a template message; in groups only templates whose content is text or media are allowed.

    Args:
        name: The approved template's name.
        language: Its language code, e.g. ``en_US``.
        components: The template's parameters, as Graph takes them.

    """
    if not isinstance(name, str) or not name.strip():
        raise ClientValidationError(f"template name must be a non-empty string, got {name!r}", argument="name")
    if not isinstance(language, str) or not language.strip():
        raise ClientValidationError(
            f"language must be a language code such as 'en_US', got {language!r}", argument="language"
        )
    template: dict[str, Any] = {"name": name, "language": {"policy": "deterministic", "code": language}}
    if components is not None:
        if isinstance(components, (str, Mapping)) or not all(isinstance(c, Mapping) for c in components):
            raise ClientValidationError("components must be a list of objects", argument="components")
        template["components"] = [dict(c) for c in components]
    return {"type": "template", "template": template}


def _with_context(message: dict[str, Any], reply_to: str | None) -> dict[str, Any]:
    if reply_to is not None:
        message["context"] = {"message_id": check_id(reply_to, "reply_to")}
    return message


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
