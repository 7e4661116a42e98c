"""The one cattrs converter that turns Graph's JSON into the library's models.

Decoding is lenient: unknown keys are ignored, numbers arriving where strings are expected become strings,
``"true"``/``"false"`` strings become booleans, unknown enum values are kept as strings, and timestamps (int or
string of UNIX seconds, or ISO 8601) become aware UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import cattrs

from .models import JoinApprovalMode

__all__ = ["make_converter", "to_datetime"]


def to_datetime(value: Any) -> datetime | None:
    """Return an aware UTC datetime for a UNIX timestamp (int, float or digit string) or ISO 8601 text."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
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
    except (TypeError, ValueError):
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


def make_converter() -> cattrs.Converter:
    """Build the library's private converter (never the global one)."""
    converter = cattrs.Converter(forbid_extra_keys=False)
    converter.register_structure_hook(str, _to_str)
    converter.register_structure_hook(str | None, _to_optional_str)
    converter.register_structure_hook(int | None, _to_optional_int)
    converter.register_structure_hook(bool | None, _to_optional_bool)
    converter.register_structure_hook(datetime | None, lambda v, _: to_datetime(v))
    converter.register_structure_hook(JoinApprovalMode | str | None, _to_mode)
    return converter


CONVERTER = make_converter()
