"""Decoding the ``messages`` field of a webhook (pure): inbound group messages and message statuses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .._core.coerce import as_bool, as_id, as_text
from .._graph.convert import user_fields
from ..models import UserRef
from ._parse_values import Context, errors_of, first, one
from .events import (
    GroupMessageReceived,
    GroupMessageStatus,
    MessageMedia,
    MessageSender,
    ReplyContext,
    StatusPricing,
    UnknownEvent,
    WebhookEvent,
)

__all__ = ["messages_events"]


def messages_events(context: Context) -> list[WebhookEvent]:
    value = context.value
    statuses = value.get("statuses")
    messages = value.get("messages")
    if not isinstance(statuses, list) and not isinstance(messages, list):
        return [UnknownEvent(field=context.raw_field, type=None, **context.common(value))]
    events: list[WebhookEvent] = []
    if isinstance(statuses, list):
        for status in statuses:
            if isinstance(status, Mapping):
                events.extend(one(context, status, _status_event))
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, Mapping):
                events.extend(one(context, message, _message_event))
    return events


def _contacts(context: Context) -> list[Mapping[str, Any]]:
    contacts = context.value.get("contacts")
    return [c for c in contacts if isinstance(c, Mapping)] if isinstance(contacts, list) else []


def _find_contact(context: Context, wa_id: str | None, user_id: str | None) -> Mapping[str, Any] | None:
    """Return the ``contacts[]`` entry for a user: by phone or BSUID, or the only one when there is one."""
    contacts = _contacts(context)
    for contact in contacts:
        if (wa_id is not None and as_id(contact.get("wa_id")) == wa_id) or (
            user_id is not None and as_id(contact.get("user_id")) == user_id
        ):
            return contact
    if len(contacts) == 1 and (wa_id is None or as_id(contacts[0].get("wa_id")) in (None, wa_id)):
        other_user = as_id(contacts[0].get("user_id"))
        if user_id is None or other_user in (None, user_id):
            return contacts[0]
    return None


def _profile_name(contact: Mapping[str, Any] | None) -> str | None:
    profile = contact.get("profile") if contact is not None else None
    return as_text(profile.get("name")) if isinstance(profile, Mapping) else None


def _status_participant(context: Context, status: Mapping[str, Any]) -> UserRef | None:
    # Meta's pages spell the participant three ways; every spelling is read.
    wa_id = first(as_id(status.get("recipient_participant_id")), as_id(status.get("participant_recipient_id")))
    user_id = as_id(status.get("recipient_participant_user_id"))
    parent = as_id(status.get("recipient_participant_parent_user_id"))
    if wa_id is None and user_id is None and parent is None:
        return None
    contact = _find_contact(context, wa_id, user_id)
    known = user_fields(contact) if contact is not None else {}
    return UserRef(
        wa_id=wa_id or known.get("wa_id"),
        user_id=user_id or known.get("user_id"),
        parent_user_id=parent or known.get("parent_user_id"),
        username=known.get("username"),
    )


def _pricing(status: Mapping[str, Any], conversation: Mapping[str, Any] | None) -> StatusPricing | None:
    # Beside the conversation in most samples, inside it in Meta's aggregated sample.
    pricing = status.get("pricing")
    if not isinstance(pricing, Mapping) and conversation is not None:
        pricing = conversation.get("pricing")
    if not isinstance(pricing, Mapping):
        return None
    return StatusPricing(
        billable=as_bool(pricing.get("billable")),
        pricing_model=as_text(pricing.get("pricing_model")),
        category=as_text(pricing.get("category")),
        type=as_text(pricing.get("type")),
    )


def _status_event(context: Context, status: Mapping[str, Any]) -> WebhookEvent:
    common = context.common(status)
    recipient_type = as_text(status.get("recipient_type"))
    participant = _status_participant(context, status)
    is_group = recipient_type == "group" or (
        recipient_type is None and ("group_id" in status or participant is not None)
    )
    if not is_group:
        return UnknownEvent(field=context.raw_field, type="status", **common)
    common["group_id"] = first(as_id(status.get("recipient_id")), as_id(status.get("group_id")))
    conversation = status.get("conversation")
    conversation = conversation if isinstance(conversation, Mapping) else None
    origin = conversation.get("origin") if conversation is not None else None
    return GroupMessageStatus(
        message_id=as_id(status.get("id")),
        status=as_text(status.get("status")),
        participant_id=participant.wa_id or participant.user_id or participant.parent_user_id
        if participant is not None
        else None,
        participant=participant,
        pricing=_pricing(status, conversation),
        conversation_id=as_id(conversation.get("id")) if conversation is not None else None,
        conversation_category=as_text(origin.get("type")) if isinstance(origin, Mapping) else None,
        errors=errors_of(status.get("errors")),
        **common,
    )


_MEDIA_TYPES: Final = frozenset({"image", "video", "audio", "document", "sticker"})


def _sender(context: Context, message: Mapping[str, Any]) -> MessageSender | None:
    wa_id = as_id(message.get("from"))
    user_id = as_id(message.get("from_user_id"))
    parent = as_id(message.get("from_parent_user_id"))
    contact = _find_contact(context, wa_id, user_id)
    known = user_fields(contact) if contact is not None else {}
    sender = MessageSender(
        wa_id=wa_id or known.get("wa_id"),
        user_id=user_id or known.get("user_id"),
        parent_user_id=parent or known.get("parent_user_id"),
        username=known.get("username"),
        name=_profile_name(contact),
    )
    return sender if sender != MessageSender() else None


def _media(message: Mapping[str, Any], kind: str | None) -> MessageMedia | None:
    if kind not in _MEDIA_TYPES:
        return None
    media = message.get(kind)
    if not isinstance(media, Mapping):
        return None
    return MessageMedia(
        id=as_id(media.get("id")),
        mime_type=as_text(media.get("mime_type")),
        sha256=as_text(media.get("sha256")),
        caption=as_text(media.get("caption")),
        filename=as_text(media.get("filename")),
    )


def _message_event(context: Context, message: Mapping[str, Any]) -> WebhookEvent:
    common = context.common(message)
    kind = as_text(message.get("type"))
    if common["group_id"] is None:
        # A one-to-one message is outside the Groups API: passed on untouched.
        return UnknownEvent(field=context.raw_field, type=kind, **common)
    text = message.get("text")
    reply = message.get("context")
    unsupported = message.get("unsupported")
    return GroupMessageReceived(
        message_id=as_id(message.get("id")),
        type=kind,
        sender=_sender(context, message),
        text=as_text(text.get("body")) if isinstance(text, Mapping) else None,
        media=_media(message, kind),
        context=ReplyContext(
            message_id=as_id(reply.get("id")) or as_id(reply.get("message_id")), sender=as_id(reply.get("from"))
        )
        if isinstance(reply, Mapping)
        else None,
        errors=errors_of(message.get("errors")),
        unsupported_type=as_text(unsupported.get("type")) if isinstance(unsupported, Mapping) else None,
        **common,
    )
