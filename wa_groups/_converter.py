"""The one cattrs converter that turns Graph's JSON into the library's models.

Decoding is lenient: unknown keys are ignored, numbers arriving where strings are expected become strings,
``"true"``/``"false"`` strings become booleans, unknown enum values are kept as strings, and timestamps (int or
string of UNIX seconds, or ISO 8601) become aware UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import cattrs

from .models import GroupSummary, JoinApprovalMode, JoinRequest, Participant

__all__ = ["make_converter", "to_datetime"]


def to_datetime(value: Any) -> datetime | None:
    """Return an aware UTC datetime for a UNIX timestamp (int, float or digit string) or ISO 8601 text."""
    kind = type(value)
    if kind is str and value.isdigit() and len(value) < 12:  # the common case, kept fast for long listings
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    if kind is int and 0 <= value < 10**11:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str):
        value = value.strip()
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _to_str(value: Any, _: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value if isinstance(value, str) else str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _to_optional_str(value: Any, _: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return value if isinstance(value, str) else str(value)


def _to_optional_int(value: Any, _: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity
        return None


def _to_optional_bool(value: Any, _: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0", ""):
            return False
        return None
    if isinstance(value, (int, float)):
        return bool(value)
    return None


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
        id=_to_str(value["id"], str),
        subject=_to_optional_str(value.get("subject"), None),
        created_at=to_datetime(value.get("created_at")),
    )


def _structure_join_request(value: Any, _: Any) -> JoinRequest:
    if not isinstance(value, dict):
        raise TypeError("a join request entry must be an object")
    return JoinRequest(
        join_request_id=_to_str(value["join_request_id"], str),
        wa_id=_to_optional_str(value.get("wa_id"), None),
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
                wa_id=_to_optional_str(item.get("wa_id"), None),
                user_id=_to_optional_str(item.get("user_id"), None),
                username=_to_optional_str(item.get("username"), None),
                country_code=_to_optional_str(item.get("country_code"), None),
            )
        )
    return tuple(participants)


def make_converter() -> cattrs.Converter:
    """Build the library's private converter (never the global one)."""
    # detailed_validation=False: generated structuring code without per-field error collection, which is
    # markedly faster on the hot paths (listing pages); malformed data still raises and _protocol reports it.
    converter = cattrs.Converter(forbid_extra_keys=False, detailed_validation=False)
    converter.register_structure_hook(str, _to_str)
    converter.register_structure_hook(str | None, _to_optional_str)
    converter.register_structure_hook(int | None, _to_optional_int)
    converter.register_structure_hook(bool | None, _to_optional_bool)
    converter.register_structure_hook(datetime | None, lambda v, _: to_datetime(v))
    converter.register_structure_hook(JoinApprovalMode | str | None, _to_mode)
    converter.register_structure_hook(GroupSummary, _structure_summary)
    converter.register_structure_hook(JoinRequest, _structure_join_request)
    converter.register_structure_hook(tuple[Participant, ...] | None, _structure_participants)
    return converter


CONVERTER = make_converter()
