"""Models as plain JSON-ready data (pure): one rule for webhook events, command output and reports."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

__all__ = ["plain_data"]


def plain_data(value: Any) -> Any:
    """Return ``value`` as plain JSON-ready data.

    attrs models become dicts of their fields, leaving out fields hidden from ``repr`` (raw answers, trackers);
    enums become their values, datetimes ISO 8601 strings, mappings dicts with string keys, and lists,
    tuples and sets lists. Anything else is returned as it is.
    """
    if attrs.has(type(value)):
        return {
            field.name: plain_data(getattr(value, field.name))
            for field in attrs.fields(type(value))
            if field.repr is not False
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): plain_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain_data(item) for item in value]
    return value
