"""The one cattrs converter that turns Graph's JSON into the library's models (pure).

Decoding is lenient: unknown keys are ignored, numbers arriving where strings are expected become strings,
``"true"``/``"false"`` strings become booleans, unknown enum values are kept as strings, and timestamps (int or
string of UNIX seconds, or ISO 8601) become aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cattrs

from .._core.coerce import as_id, as_text, to_datetime
from .._core.convert import lenient_converter, required_text
from ..models import GroupSummary, JoinApprovalMode, JoinRequest, Participant, UserRef

__all__ = ["CONVERTER", "make_converter", "user_fields", "user_ref"]


def _to_mode(value: Any, _: Any) -> JoinApprovalMode | str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    try:
        return JoinApprovalMode(text)
    except ValueError:
        return text


def user_fields(value: Mapping[str, Any]) -> dict[str, str | None]:
    """Return the :class:`~wa_groups.models.UserRef` fields of a JSON object that names a user.

    Meta spells the username either at the top or inside ``profile`` (webhook contacts); both are read.
    """
    profile = value.get("profile")
    username = as_id(value.get("username"))
    if username is None and isinstance(profile, Mapping):
        username = as_id(profile.get("username"))
    return {
        "wa_id": as_id(value.get("wa_id")),
        "user_id": as_id(value.get("user_id")),
        "parent_user_id": as_id(value.get("parent_user_id")),
        "username": username,
        "input": as_id(value.get("input")),
    }


def user_ref(value: Mapping[str, Any]) -> UserRef:
    """Return the :class:`~wa_groups.models.UserRef` a JSON object describes."""
    return UserRef(**user_fields(value))


def _structure_summary(value: Any, _: Any) -> GroupSummary:
    # Listings stream up to 1024 of these per page: a direct hook is several times faster than the generic one.
    if not isinstance(value, dict):
        raise TypeError("a group entry must be an object")
    return GroupSummary(
        id=required_text(value["id"], str),
        subject=as_text(value.get("subject")),
        created_at=to_datetime(value.get("created_at")),
    )


def _optional_id(value: Any) -> str | None:
    # Listings hold up to 1024 entries a page and most identity keys are absent: skip the call for them.
    return None if value is None else as_id(value)


def _structure_join_request(value: Any, _: Any) -> JoinRequest:
    # The hot path of join-request listings (see _structure_summary); reads what user_fields reads.
    if not isinstance(value, dict):
        raise TypeError("a join request entry must be an object")
    get = value.get
    username = get("username")
    if username is None and "profile" in value:
        return JoinRequest(
            join_request_id=required_text(value["join_request_id"], str),
            creation_timestamp=to_datetime(get("creation_timestamp")),
            **user_fields(value),
        )
    return JoinRequest(
        join_request_id=required_text(value["join_request_id"], str),
        creation_timestamp=to_datetime(get("creation_timestamp")),
        wa_id=_optional_id(get("wa_id")),
        user_id=_optional_id(get("user_id")),
        parent_user_id=_optional_id(get("parent_user_id")),
        username=_optional_id(username),
        input=_optional_id(get("input")),
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
        participants.append(Participant(country_code=as_text(item.get("country_code")), **user_fields(item)))
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
