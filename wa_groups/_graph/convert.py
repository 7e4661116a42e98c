"""The one cattrs converter that turns Graph's JSON into the library's models (pure).

Decoding is lenient: unknown keys are ignored, numbers arriving where strings are expected become strings,
``"true"``/``"false"`` strings become booleans, unknown enum values are kept as strings, and timestamps (int or
string of UNIX seconds, or ISO 8601) become aware UTC datetimes.
"""

from __future__ import annotations

from typing import Any

import cattrs

from .._core.coerce import as_text, to_datetime
from .._core.convert import lenient_converter, required_text
from ..models import GroupSummary, JoinApprovalMode, JoinRequest, Participant

__all__ = ["CONVERTER", "make_converter"]


def _to_mode(value: Any, _: Any) -> JoinApprovalMode | str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    try:
        return JoinApprovalMode(text)
    except ValueError:
        return text


def _structure_summary(value: Any, _: Any) -> GroupSummary:
    # Listings stream up to 1024 of these per page: a direct hook is several times faster than the generic one.
    if not isinstance(value, dict):
        raise TypeError("a group entry must be an object")
    return GroupSummary(
        id=required_text(value["id"], str),
        subject=as_text(value.get("subject")),
        created_at=to_datetime(value.get("created_at")),
    )


def _structure_join_request(value: Any, _: Any) -> JoinRequest:
    if not isinstance(value, dict):
        raise TypeError("a join request entry must be an object")
    return JoinRequest(
        join_request_id=required_text(value["join_request_id"], str),
        wa_id=as_text(value.get("wa_id")),
        creation_timestamp=to_datetime(value.get("creation_timestamp")),
    )


def _structure_participants(value: Any, _: Any) -> tuple[Participant, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise TypeError("participants must be a list")
    participants = []
    for item in value:
        if not isinstance(item, dict):
            raise TypeError("a participant must be an object")
        participants.append(
            Participant(
                wa_id=as_text(item.get("wa_id")),
                user_id=as_text(item.get("user_id")),
                username=as_text(item.get("username")),
                country_code=as_text(item.get("country_code")),
            )
        )
    return tuple(participants)


def make_converter() -> cattrs.Converter:
    """Build the library's private converter (never the global one)."""
    converter = lenient_converter()
    converter.register_structure_hook(JoinApprovalMode | str | None, _to_mode)
    converter.register_structure_hook(GroupSummary, _structure_summary)
    converter.register_structure_hook(JoinRequest, _structure_join_request)
    converter.register_structure_hook(tuple[Participant, ...] | None, _structure_participants)
    return converter


CONVERTER = make_converter()
