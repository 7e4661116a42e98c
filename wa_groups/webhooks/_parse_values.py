"""Shared pieces of webhook decoding (pure): where a notification sits, and lenient value readers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from .._core.coerce import as_bool, as_id, as_text, to_datetime
from .._graph.convert import user_fields
from .._graph.errors import error_detail
from .events import EventError, EventParticipant, FailedParticipant, SettingResult, UnknownEvent, WebhookEvent

__all__ = [
    "Context",
    "errors_of",
    "failed_participants",
    "first",
    "isolated",
    "join_user",
    "one",
    "parse_timestamp",
    "participant",
    "participants",
    "setting",
]

logger = logging.getLogger("wa_groups.webhooks")


def parse_timestamp(value: Any) -> datetime | None:
    """Return a webhook timestamp as an aware UTC datetime, or ``None`` when absent or unreadable.

    Webhooks send strings of UNIX seconds; numbers and ISO 8601 strings are accepted too (the same reading as
    for API answers).
    """
    return to_datetime(value)


def errors_of(value: Any) -> tuple[EventError, ...]:
    items = [value] if isinstance(value, Mapping) else value if isinstance(value, list) else []
    return tuple(error_detail(item) for item in items if isinstance(item, (Mapping, str)))


def participant(item: Any) -> EventParticipant | None:
    if isinstance(item, Mapping):
        return EventParticipant(**user_fields(item))
    text = as_id(item)
    return EventParticipant(input=text) if text is not None else None


def participants(value: Any) -> tuple[EventParticipant, ...]:
    items = [value] if isinstance(value, Mapping) else value if isinstance(value, list) else []
    return tuple(p for p in map(participant, items) if p is not None)


def failed_participants(value: Any) -> tuple[FailedParticipant, ...]:
    items = [value] if isinstance(value, Mapping) else value if isinstance(value, list) else []
    failed: list[FailedParticipant] = []
    for item in items:
        if isinstance(item, Mapping):
            failed.append(FailedParticipant(errors=errors_of(item.get("errors")), **user_fields(item)))
        elif (text := as_id(item)) is not None:
            failed.append(FailedParticipant(input=text))
    return tuple(failed)


def setting(value: Any) -> SettingResult | None:
    if isinstance(value, Mapping):
        return SettingResult(
            text=as_text(value.get("text")),
            mime_type=as_text(value.get("mime_type")),
            sha256=as_text(value.get("sha256")),
            update_successful=as_bool(value.get("update_successful")),
            errors=errors_of(value.get("errors")),
        )
    if isinstance(value, str):
        return SettingResult(text=value)
    return None


def first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


@attrs.frozen
class Context:
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
        return first(item.get(key), self.value.get(key), self.change.get(key), self.entry.get(key))


def join_user(group: Mapping[str, Any]) -> dict[str, Any]:
    """Return the requester's identity fields of a join-request event (``input`` is not one of them)."""
    fields = user_fields(group)
    del fields["input"]
    return fields


def isolated(
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


def one(
    context: Context, item: Mapping[str, Any], parse: Callable[[Context, Mapping[str, Any]], WebhookEvent]
) -> list[WebhookEvent]:
    """Parse one notification with ``parse``, isolated from the others (see :func:`isolated`)."""
    return isolated(lambda: [parse(context, item)], context.entry, item, context.raw_field)
