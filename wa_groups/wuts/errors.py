"""Reading the fields WUTS refused out of an error (public, pure)."""

from __future__ import annotations

from collections.abc import Mapping

from .._core.coerce import as_text
from .models import FieldError

__all__ = ["field_errors", "validation_errors"]


def field_errors(validation: object) -> tuple[FieldError, ...]:
    """Decode the envelope's ``validation`` list (anything else gives an empty tuple)."""
    if not isinstance(validation, list):
        return ()
    return tuple(
        FieldError(field=as_text(item.get("field")), message=as_text(item.get("message")), value=item.get("value"))
        if isinstance(item, Mapping)
        else FieldError(message=as_text(item))
        for item in validation
    )


def validation_errors(error: BaseException) -> tuple[FieldError, ...]:
    """Return the fields WUTS refused, from an error raised by a :class:`~wa_groups.wuts.WutsClient` call."""
    raw = getattr(error, "raw", None)
    return field_errors(raw.get("validation")) if isinstance(raw, Mapping) else ()
