"""The lenient cattrs converter every backend starts from (pure).

It reads scalars through :mod:`wa_groups._core.coerce`, ignores unknown keys and is never the global converter;
each backend adds the hooks of its own models on top.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import cattrs

from .coerce import as_bool, as_int, as_text, to_datetime

__all__ = ["lenient_converter", "required_text"]


def required_text(value: Any, _: Any = None) -> str:
    """Return ``value`` as text (see :func:`~wa_groups._core.coerce.as_text`), or raise ``TypeError``."""
    text = as_text(value)
    if text is None:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return text


def lenient_converter() -> cattrs.Converter:
    """Build a new converter that reads strings, optional ints, bools and datetimes leniently."""
    # detailed_validation=False: generated structuring code without per-field error collection, which is
    # markedly faster on the hot paths (listing pages); malformed data still raises and the decoder reports it.
    converter = cattrs.Converter(forbid_extra_keys=False, detailed_validation=False)
    converter.register_structure_hook(str, required_text)
    converter.register_structure_hook(str | None, lambda v, _: as_text(v))
    converter.register_structure_hook(int | None, lambda v, _: as_int(v))
    converter.register_structure_hook(bool | None, lambda v, _: as_bool(v))
    converter.register_structure_hook(datetime | None, lambda v, _: to_datetime(v))
    return converter
