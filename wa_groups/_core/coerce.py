"""The one set of lenient coercions used to read every answer and webhook (pure).

APIs mix types freely (ids as numbers, booleans as strings, timestamps as digit strings or ISO 8601), so every
decoder reads scalar values through these functions and they all agree: a value that cannot mean what is asked
for becomes ``None``, never an exception and never a surprising string such as ``"nan"`` or ``"True"``.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

__all__ = ["as_bool", "as_id", "as_int", "as_text", "to_datetime"]


def as_text(value: Any) -> str | None:
    """Return ``value`` as text: a string as it is, a number as its digits; ``None`` for anything else.

    Booleans, containers, ``NaN`` and infinities are not text. A whole float reads as an integer (``5.0`` ->
    ``"5"``), since JSON writers differ on how they print ids.
    """
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        try:
            return str(value)
        except ValueError:  # an integer too long to print
            return None
    if kind is float:
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return str(value)
    return None


def as_id(value: Any) -> str | None:
    """Return ``value`` as an id: text with surrounding white space removed, or ``None`` when empty."""
    text = as_text(value)
    if text is None:
        return None
    return text.strip() or None


def as_int(value: Any) -> int | None:
    """Return ``value`` as an int when it is one, a whole float or a string of ASCII digits, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not digits.isascii() or not digits.isdigit() or len(digits) > 30:
            return None
        return int(text)
    return None


def as_bool(value: Any) -> bool | None:
    """Return ``value`` as a bool: booleans, ``"true"``/``"false"``/``"1"``/``"0"`` and the numbers 0 and 1.

    Anything else, the empty string included, says nothing and becomes ``None``.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        return None
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    return None


def to_datetime(value: Any) -> datetime | None:
    """Return an aware UTC datetime for a UNIX timestamp (int, float or ASCII digit string) or ISO 8601 text."""
    kind = type(value)
    if kind is str and value.isascii() and value.isdigit() and len(value) < 12:  # the common case, kept fast
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    if kind is int and 0 <= value < 10**11:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii():
            return None
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
