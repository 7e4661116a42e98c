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
from collections.abc import Mapping
from typing import Any, Final

from .._core.coerce import as_id, as_text
from ..errors import WebhookPayloadError
from ._parse_messages import messages_events
from ._parse_values import (
    Context,
    errors_of,
    failed_participants,
    first,
    isolated,
    join_user,
    one,
    participants,
    setting,
)
from .events import (
    GroupCreated,
    GroupCreateFailed,
    GroupDeleted,
    GroupDeleteFailed,
    GroupSuspended,
    GroupSuspensionCleared,
    JoinRequestCreated,
    JoinRequestRevoked,
    ParticipantsAdded,
    ParticipantsRemoved,
    SettingsUpdated,
    UnknownEvent,
    WebhookEvent,
)

__all__ = ["parse_webhook"]


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


# ------------------------------------------------------------------------------------------- the envelope


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
                events.extend(isolated(functools.partial(_parse_change, entry, change), entry, change, None))
    return events


def _parse_change(entry: Mapping[str, Any], change: Mapping[str, Any]) -> list[WebhookEvent]:
    raw_field = as_text(change.get("field"))
    field = _FIELD_ALIASES.get(raw_field, raw_field) if raw_field is not None else None
    value = change.get("value")
    if not isinstance(value, Mapping):
        context = Context(raw_field, raw_field, entry, change, {})
        return [UnknownEvent(field=raw_field, **_without_item(context.common(change)))]
    context = Context(field, raw_field, entry, change, value)
    if field in _GROUP_FIELDS:
        groups = value.get("groups")
        if isinstance(groups, list):
            return [e for g in groups if isinstance(g, Mapping) for e in one(context, g, _group_event)]
        if "type" in value or "group_id" in value:
            # A single group object not wrapped in a "groups" list.
            return [_group_event(context, value)]
    elif field == FIELD_MESSAGES:
        return messages_events(context)
    return [UnknownEvent(field=raw_field, type=as_text(value.get("type")), **context.common(value))]


def _without_item(common: dict[str, Any]) -> dict[str, Any]:
    # A change without a value has no group, request or timestamp of its own.
    return {**common, "group_id": None, "request_id": None, "timestamp": None}


# ------------------------------------------------------------------------------------------ group events


def _group_event(context: Context, group: Mapping[str, Any]) -> WebhookEvent:
    group_type = as_text(group.get("type"))
    common = context.common(group)
    field = context.field
    if field == FIELD_LIFECYCLE:
        if group_type == _TYPE_CREATE:
            errors = errors_of(group.get("errors"))
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
                added_participants=participants(group.get("added_participants")),
                **common,
            )
        if group_type == _TYPE_DELETE:
            errors = errors_of(group.get("errors"))
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
                subject=setting(first(group.get("group_subject"), group.get("subject"))),
                description=setting(first(group.get("group_description"), group.get("description"))),
                profile_picture=setting(group.get("profile_picture")),
                errors=errors_of(group.get("errors")),
                **common,
            )
    elif field == FIELD_STATUS:
        if group_type == _TYPE_SUSPEND:
            return GroupSuspended(**common)
        if group_type == _TYPE_SUSPEND_CLEARED:
            return GroupSuspensionCleared(**common)
    return UnknownEvent(field=context.raw_field, type=group_type, **common)


def _participants_event(
    context: Context, group: Mapping[str, Any], group_type: str | None, common: dict[str, Any]
) -> WebhookEvent | None:
    if group_type in _TYPES_REMOVE or "removed_participants" in group or "failed_participants" in group:
        return ParticipantsRemoved(
            initiated_by=as_text(context.lookup(group, "initiated_by")),
            removed_participants=participants(group.get("removed_participants")),
            failed_participants=failed_participants(group.get("failed_participants")),
            errors=errors_of(group.get("errors")),
            **common,
        )
    if group_type == _TYPE_JOIN_CREATED:
        return JoinRequestCreated(
            join_request_id=as_id(group.get("join_request_id")),
            reason=as_text(group.get("reason")),
            **join_user(group),
            **common,
        )
    if group_type == _TYPE_JOIN_REVOKED:
        return JoinRequestRevoked(
            join_request_id=as_id(group.get("join_request_id")),
            reason=as_text(group.get("reason")),
            **join_user(group),
            **common,
        )
    if group_type in _TYPES_ADD or "added_participants" in group:
        return ParticipantsAdded(
            reason=as_text(group.get("reason")),
            added_participants=participants(group.get("added_participants")),
            **common,
        )
    return None
