"""Decode webhook deliveries into typed events, with no I/O.

Decoding is lenient on purpose: Meta's own samples disagree with each other (numbers where strings are
documented, ``initiated_by`` outside the group object, a ``type`` that contradicts the field), and a new
field must never break a user. The rules:

* Only the envelope is strict: the body must be a JSON object with an ``entry`` list, or
  :class:`~wa_groups.errors.WebhookPayloadError` is raised.
* Every notification becomes an event; a field or ``type`` the library does not know becomes
  :class:`UnknownEvent`. Entries, changes, groups and statuses that are not JSON objects carry nothing
  addressable and are skipped; a bare string in ``errors`` becomes a message, a bare id in a participant
  list becomes that participant's ``input``.
* The change ``field`` chooses the family of event; within it the group's ``type`` chooses the event. On
  ``group_participants_update``, the presence of ``removed_participants`` (or ``failed_participants``) means
  a removal whatever ``type`` says, because Meta's sample for a removal is labelled ``group_create``.
* ``initiated_by`` is looked up on the group object first, then on the enclosing value, change and entry.
* Each notification (each change, each group object, each status, each message) is decoded on its own: one
  that cannot be typed becomes an :class:`UnknownEvent` holding its raw object (and a log line), and the
  others are decoded as usual.
* On ``messages``, a message with a ``group_id`` is a :class:`GroupMessageReceived`; a status whose
  ``recipient_type`` is ``group`` (or that names a group participant) is a :class:`GroupMessageStatus`.
  One-to-one messages and statuses are kept as :class:`UnknownEvent`.
* Users are read with every identifier Meta may send (``wa_id``, ``user_id``, ``parent_user_id``,
  ``username``, ``input``); none is required.
* Ids and participants that arrive as numbers become strings; error codes that arrive as strings become
  integers; timestamps (strings or numbers of UNIX seconds) become aware UTC datetimes, or ``None``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from .._core.coerce import as_bool, as_id, as_text, to_datetime
from .._graph.convert import user_fields
from .._graph.errors import error_detail
from ..errors import WebhookPayloadError
from ..models import UserRef
from .events import (
    EventError,
    EventParticipant,
    FailedParticipant,
    GroupCreated,
    GroupCreateFailed,
    GroupDeleted,
    GroupDeleteFailed,
    GroupMessageReceived,
    GroupMessageStatus,
    GroupSuspended,
    GroupSuspensionCleared,
    JoinRequestCreated,
    JoinRequestRevoked,
    MessageMedia,
    MessageSender,
    ParticipantsAdded,
    ParticipantsRemoved,
    ReplyContext,
    SettingResult,
    SettingsUpdated,
    StatusPricing,
    UnknownEvent,
    WebhookEvent,
)

__all__ = ["parse_webhook"]

logger = logging.getLogger("wa_groups.webhooks")

FIELD_LIFECYCLE: Final = "group_lifecycle_update"
FIELD_PARTICIPANTS: Final = "group_participants_update"
FIELD_SETTINGS: Final = "group_settings_update"
FIELD_STATUS: Final = "group_status_update"
FIELD_MESSAGES: Final = "messages"

# Meta's OpenAPI file spells the participants field and some types differently from its webhook pages.
_FIELD_ALIASES: Final = {"group_participant_update": FIELD_PARTICIPANTS}
_GROUP_FIELDS: Final = frozenset({FIELD_LIFECYCLE, FIELD_PARTICIPANTS, FIELD_SETTINGS, FIELD_STATUS})

_TYPE_CREATE: Final = "group_create"
_TYPE_DELETE: Final = "group_delete"
_TYPES_ADD: Final = frozenset({"group_participants_add", "group_add_participants"})
_TYPES_REMOVE: Final = frozenset({"group_participants_remove", "group_remove_participants"})
_TYPE_JOIN_CREATED: Final = "group_join_request_created"
_TYPE_JOIN_REVOKED: Final = "group_join_request_revoked"
_TYPE_SETTINGS: Final = "group_settings_update"
_TYPE_SUSPEND: Final = "group_suspend"
_TYPE_SUSPEND_CLEARED: Final = "group_suspend_cleared"
_SETTINGS_KEYS: Final = frozenset(
    {"group_subject", "group_description", "profile_picture", "subject", "description", "errors"}
)


# ------------------------------------------------------------------------------------------ value coercion


def parse_timestamp(value: Any) -> datetime | None:
    """Return a webhook timestamp as an aware UTC datetime, or ``None`` when absent or unreadable.

    Webhooks send strings of UNIX seconds; numbers and ISO 8601 strings are accepted too (the same reading as
    for API answers).
    """
    return to_datetime(value)


def _errors(value: Any) -> tuple[EventError, ...]:
    items = [value] if isinstance(value, Mapping) else value if isinstance(value, list) else []
    return tuple(error_detail(item) for item in items if isinstance(item, (Mapping, str)))


def _participant(item: Any) -> EventParticipant | None:
    if isinstance(item, Mapping):
        return EventParticipant(**user_fields(item))
    text = as_id(item)
    return EventParticipant(input=text) if text is not None else None


def _participants(value: Any) -> tuple[EventParticipant, ...]:
    items = [value] if isinstance(value, Mapping) else value if isinstance(value, list) else []
    return tuple(p for p in map(_participant, items) if p is not None)


def _failed_participants(value: Any) -> tuple[FailedParticipant, ...]:
    items = [value] if isinstance(value, Mapping) else value if isinstance(value, list) else []
    failed: list[FailedParticipant] = []
    for item in items:
        if isinstance(item, Mapping):
            failed.append(FailedParticipant(errors=_errors(item.get("errors")), **user_fields(item)))
        elif (text := as_id(item)) is not None:
            failed.append(FailedParticipant(input=text))
    return tuple(failed)


def _setting(value: Any) -> SettingResult | None:
    if isinstance(value, Mapping):
        return SettingResult(
            text=as_text(value.get("text")),
            mime_type=as_text(value.get("mime_type")),
            sha256=as_text(value.get("sha256")),
            update_successful=as_bool(value.get("update_successful")),
            errors=_errors(value.get("errors")),
        )
    if isinstance(value, str):
        return SettingResult(text=value)
    return None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


# ------------------------------------------------------------------------------------------- the envelope


@attrs.frozen
class _Context:
    """Where a notification sits in the delivery."""

    field: str | None
    """The field, with aliases resolved; it chooses how notifications are decoded."""
    raw_field: str | None
    """The field as sent, reported on unknown events."""
    entry: Mapping[str, Any]
    change: Mapping[str, Any]
    value: Mapping[str, Any]

    def common(self, item: Mapping[str, Any]) -> dict[str, Any]:
        metadata = self.value.get("metadata")
        if not isinstance(metadata, Mapping):
            metadata = {}
        return {
            "waba_id": as_id(self.entry.get("id")),
            "phone_number_id": as_id(metadata.get("phone_number_id")),
            "display_phone_number": as_id(metadata.get("display_phone_number")),
            "group_id": as_id(item.get("group_id")),
            "request_id": as_id(item.get("request_id")),
            "timestamp": parse_timestamp(item.get("timestamp")),
            "raw": item,
        }

    def lookup(self, item: Mapping[str, Any], key: str) -> Any:
        return _first(item.get(key), self.value.get(key), self.change.get(key), self.entry.get(key))


def _load(data: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        document: Any = data
    elif isinstance(data, (bytes, bytearray, memoryview, str)):
        try:
            text = bytes(data).decode("utf-8-sig") if not isinstance(data, str) else data
            document = json.loads(text)
        except UnicodeDecodeError:
            raise WebhookPayloadError("the webhook body is not UTF-8 text") from None
        except (ValueError, RecursionError):
            raise WebhookPayloadError("the webhook body is not valid JSON") from None
    else:
        raise WebhookPayloadError(f"cannot read a webhook body of type {type(data).__name__}")
    if not isinstance(document, Mapping):
        raise WebhookPayloadError("the webhook body is not a JSON object")
    if not isinstance(document.get("entry"), list):
        raise WebhookPayloadError("the webhook body has no 'entry' list")
    return document


def parse_webhook(data: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> list[WebhookEvent]:
    """Decode a webhook delivery into events, one per notification, in delivery order.

    Check the signature first (:func:`verify_signature`) when ``data`` comes from the network.

    Args:
        data: The raw body (bytes or text) or the already decoded JSON object.

    Returns:
        The events; unknown notifications are :class:`UnknownEvent`.

    Raises:
        WebhookPayloadError: ``data`` is not a JSON object with an ``entry`` list.

    """
    document = _load(data)
    events: list[WebhookEvent] = []
    for entry in document["entry"]:
        if not isinstance(entry, Mapping):
            continue
        changes = entry.get("changes")
        if not isinstance(changes, list):
            continue
        for change in changes:
            if isinstance(change, Mapping):
                events.extend(_isolated(functools.partial(_parse_change, entry, change), entry, change, None))
    return events


def _isolated(
    parse: Callable[[], list[WebhookEvent]],
    entry: Mapping[str, Any],
    item: Mapping[str, Any],
    field: str | None,
) -> list[WebhookEvent]:
    """Run ``parse`` for one notification; if it fails, keep the notification raw as an :class:`UnknownEvent`.

    One notification Meta shaped in a way the library did not foresee must never cost the others.
    """
    try:
        return parse()
    except Exception as exc:  # any decoding slip: keep the raw notification, log it, go on
        logger.warning("a webhook notification could not be decoded (%s); kept as UnknownEvent", type(exc).__name__)
        raw_field = field if field is not None else as_text(item.get("field"))
        return [UnknownEvent(field=raw_field, waba_id=as_id(entry.get("id")), raw=item)]


def _one(
    context: _Context, item: Mapping[str, Any], parse: Callable[[_Context, Mapping[str, Any]], WebhookEvent]
) -> list[WebhookEvent]:
    return _isolated(lambda: [parse(context, item)], context.entry, item, context.raw_field)


def _parse_change(entry: Mapping[str, Any], change: Mapping[str, Any]) -> list[WebhookEvent]:
    raw_field = as_text(change.get("field"))
    field = _FIELD_ALIASES.get(raw_field, raw_field) if raw_field is not None else None
    value = change.get("value")
    if not isinstance(value, Mapping):
        context = _Context(raw_field, raw_field, entry, change, {})
        return [UnknownEvent(field=raw_field, **_without_item(context.common(change)))]
    context = _Context(field, raw_field, entry, change, value)
    if field in _GROUP_FIELDS:
        groups = value.get("groups")
        if isinstance(groups, list):
            return [e for g in groups if isinstance(g, Mapping) for e in _one(context, g, _group_event)]
        if "type" in value or "group_id" in value:
            # A single group object not wrapped in a "groups" list.
            return [_group_event(context, value)]
    elif field == FIELD_MESSAGES:
        return _messages_events(context)
    return [UnknownEvent(field=raw_field, type=as_text(value.get("type")), **context.common(value))]


def _without_item(common: dict[str, Any]) -> dict[str, Any]:
    # A change without a value has no group, request or timestamp of its own.
    return {**common, "group_id": None, "request_id": None, "timestamp": None}


# ------------------------------------------------------------------------------------------ group events


def _group_event(context: _Context, group: Mapping[str, Any]) -> WebhookEvent:
    group_type = as_text(group.get("type"))
    common = context.common(group)
    field = context.field
    if field == FIELD_LIFECYCLE:
        if group_type == _TYPE_CREATE:
            errors = _errors(group.get("errors"))
            if errors:
                return GroupCreateFailed(
                    subject=as_text(group.get("subject")),
                    description=as_text(group.get("description")),
                    errors=errors,
                    **common,
                )
            return GroupCreated(
                subject=as_text(group.get("subject")),
                description=as_text(group.get("description")),
                invite_link=as_text(group.get("invite_link")),
                join_approval_mode=as_text(group.get("join_approval_mode")),
                added_participants=_participants(group.get("added_participants")),
                **common,
            )
        if group_type == _TYPE_DELETE:
            errors = _errors(group.get("errors"))
            if errors:
                return GroupDeleteFailed(errors=errors, **common)
            return GroupDeleted(**common)
    elif field == FIELD_PARTICIPANTS:
        event = _participants_event(context, group, group_type, common)
        if event is not None:
            return event
    elif field == FIELD_SETTINGS:
        if group_type in (_TYPE_SETTINGS, None) or not _SETTINGS_KEYS.isdisjoint(group):
            return SettingsUpdated(
                subject=_setting(_first(group.get("group_subject"), group.get("subject"))),
                description=_setting(_first(group.get("group_description"), group.get("description"))),
                profile_picture=_setting(group.get("profile_picture")),
                errors=_errors(group.get("errors")),
                **common,
            )
    elif field == FIELD_STATUS:
        if group_type == _TYPE_SUSPEND:
            return GroupSuspended(**common)
        if group_type == _TYPE_SUSPEND_CLEARED:
            return GroupSuspensionCleared(**common)
    return UnknownEvent(field=context.raw_field, type=group_type, **common)


def _participants_event(
    context: _Context, group: Mapping[str, Any], group_type: str | None, common: dict[str, Any]
) -> WebhookEvent | None:
    if group_type in _TYPES_REMOVE or "removed_participants" in group or "failed_participants" in group:
        return ParticipantsRemoved(
            initiated_by=as_text(context.lookup(group, "initiated_by")),
            removed_participants=_participants(group.get("removed_participants")),
            failed_participants=_failed_participants(group.get("failed_participants")),
            errors=_errors(group.get("errors")),
            **common,
        )
    if group_type == _TYPE_JOIN_CREATED:
        return JoinRequestCreated(
            join_request_id=as_id(group.get("join_request_id")),
            reason=as_text(group.get("reason")),
            **_join_user(group),
            **common,
        )
    if group_type == _TYPE_JOIN_REVOKED:
        return JoinRequestRevoked(
            join_request_id=as_id(group.get("join_request_id")),
            reason=as_text(group.get("reason")),
            **_join_user(group),
            **common,
        )
    if group_type in _TYPES_ADD or "added_participants" in group:
        return ParticipantsAdded(
            reason=as_text(group.get("reason")),
            added_participants=_participants(group.get("added_participants")),
            **common,
        )
    return None


# ---------------------------------------------------------------------------------- messages and statuses


def _join_user(group: Mapping[str, Any]) -> dict[str, Any]:
    fields = user_fields(group)
    del fields["input"]
    return fields


def _messages_events(context: _Context) -> list[WebhookEvent]:
    value = context.value
    statuses = value.get("statuses")
    messages = value.get("messages")
    if not isinstance(statuses, list) and not isinstance(messages, list):
        return [UnknownEvent(field=context.raw_field, type=None, **context.common(value))]
    events: list[WebhookEvent] = []
    if isinstance(statuses, list):
        for status in statuses:
            if isinstance(status, Mapping):
                events.extend(_one(context, status, _status_event))
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, Mapping):
                events.extend(_one(context, message, _message_event))
    return events


def _contacts(context: _Context) -> list[Mapping[str, Any]]:
    contacts = context.value.get("contacts")
    return [c for c in contacts if isinstance(c, Mapping)] if isinstance(contacts, list) else []


def _find_contact(context: _Context, wa_id: str | None, user_id: str | None) -> Mapping[str, Any] | None:
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


def _status_participant(context: _Context, status: Mapping[str, Any]) -> UserRef | None:
    # Meta's pages spell the participant three ways; every spelling is read.
    wa_id = _first(as_id(status.get("recipient_participant_id")), as_id(status.get("participant_recipient_id")))
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


def _status_event(context: _Context, status: Mapping[str, Any]) -> WebhookEvent:
    common = context.common(status)
    recipient_type = as_text(status.get("recipient_type"))
    participant = _status_participant(context, status)
    is_group = recipient_type == "group" or (
        recipient_type is None and ("group_id" in status or participant is not None)
    )
    if not is_group:
        return UnknownEvent(field=context.raw_field, type="status", **common)
    common["group_id"] = _first(as_id(status.get("recipient_id")), as_id(status.get("group_id")))
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
        errors=_errors(status.get("errors")),
        **common,
    )


_MEDIA_TYPES: Final = frozenset({"image", "video", "audio", "document", "sticker"})


def _sender(context: _Context, message: Mapping[str, Any]) -> MessageSender | None:
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


def _message_event(context: _Context, message: Mapping[str, Any]) -> WebhookEvent:
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
        errors=_errors(message.get("errors")),
        unsupported_type=as_text(unsupported.get("type")) if isinstance(unsupported, Mapping) else None,
        **common,
    )
