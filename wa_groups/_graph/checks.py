"""Argument checks for the Graph client (pure): every invalid value is refused before any request is sent.

Each check returns the value as Graph takes it or raises :class:`~wa_groups.errors.ClientValidationError`
with a message naming the argument and the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import ClientValidationError
from ..models import JoinApprovalMode
from .endpoints import (
    DESCRIPTION_MAX_CHARS,
    GROUP_INFO_FIELDS,
    PARTICIPANTS_PER_CALL,
    PICTURE_MAX_BYTES,
    PICTURE_MIN_SIDE,
    SUBJECT_MAX_CHARS,
)

_FORBIDDEN_ID_CHARS = re.compile(r"[/?#\s%]")


def check_id(value: object, argument: str) -> str:
    """Return ``value`` if it can go into a URL path as an id, else raise :class:`ClientValidationError`."""
    if not isinstance(value, str):
        raise ClientValidationError(f"{argument} must be a string, got {value!r}", argument=argument)
    if not value or _FORBIDDEN_ID_CHARS.search(value) or value in (".", ".."):
        raise ClientValidationError(
            f"{argument} must be a non-empty id without '/', '?', '#', '%' or whitespace, got {value!r}",
            argument=argument,
        )
    return value


def check_subject(value: object, argument: str = "subject") -> str:
    """Return the trimmed subject, or raise if it is not 1..128 characters after trimming."""
    if not isinstance(value, str):
        raise ClientValidationError(f"{argument} must be a string, got {value!r}", argument=argument)
    trimmed = value.strip()
    if not 1 <= len(trimmed) <= SUBJECT_MAX_CHARS:
        raise ClientValidationError(
            f"{argument} must be 1..{SUBJECT_MAX_CHARS} characters after trimming, got {len(trimmed)}: {value[:40]!r}",
            argument=argument,
        )
    return trimmed


def check_description(value: object, argument: str = "description") -> str:
    """Return the description, or raise if it is longer than 2048 characters."""
    if not isinstance(value, str):
        raise ClientValidationError(f"{argument} must be a string, got {value!r}", argument=argument)
    if len(value) > DESCRIPTION_MAX_CHARS:
        raise ClientValidationError(
            f"{argument} must be at most {DESCRIPTION_MAX_CHARS} characters, got {len(value)}", argument=argument
        )
    return value


def check_join_approval_mode(value: object) -> str:
    """Return the wire value of a join approval mode, accepting the enum or its string value."""
    try:
        return JoinApprovalMode(value).value
    except ValueError:
        allowed = ", ".join(mode.value for mode in JoinApprovalMode)
        raise ClientValidationError(
            f"join_approval_mode must be one of {allowed}, got {value!r}", argument="join_approval_mode"
        ) from None


_USER_CHARS = re.compile(r"^\+?[0-9][0-9 ().\-]*$")
#: A business-scoped user id: a country code, a period, then letters and digits (Meta: up to 128). Parent
#: BSUIDs have been seen with a further period-separated part, so periods are allowed after the first one.
_BSUID = re.compile(r"^[A-Za-z]{2,8}\.[A-Za-z0-9][A-Za-z0-9.]{0,139}$")
#: The international call prefix some people write instead of "+".
_INTERNATIONAL_PREFIX = "00"


def is_bsuid(value: str) -> bool:
    """Tell whether ``value`` has the shape of a business-scoped user id (``US.13491208655302741918``)."""
    return _BSUID.match(value) is not None and not value.endswith(".") and ".." not in value


def normalise_user(value: object, argument: str = "participants") -> str:
    """Return a user as Graph takes it: the digits of a phone number, or a business-scoped user id unchanged.

    ``"+1 (650) 555-1234"`` becomes ``"16505551234"``; ``"00 1 650 555 1234"`` (the international call prefix
    written out) becomes ``"16505551234"`` too. A BSUID (``US.13491208655302741918``) is opaque and passes
    through unchanged. Anything else (``"hello"``) is refused, naming the value.
    """
    if not isinstance(value, str) or not value.strip():
        raise ClientValidationError(
            f"{argument} entries must be non-empty strings (phone numbers or business-scoped user ids), got {value!r}",
            argument=argument,
        )
    text = value.strip()
    if _USER_CHARS.match(text):
        digits = re.sub(r"\D", "", text)
        if not text.startswith("+") and digits.startswith(_INTERNATIONAL_PREFIX):
            digits = digits[len(_INTERNATIONAL_PREFIX) :]
        if not 5 <= len(digits) <= 20 or digits.startswith("0"):
            raise ClientValidationError(
                f"{argument}: {value!r} is not a valid phone number (give it with its country code)",
                argument=argument,
            )
        return digits
    if is_bsuid(text):
        return text
    raise ClientValidationError(
        f"{argument}: {value!r} is neither a phone number nor a business-scoped user id (such as "
        "'US.13491208655302741918')",
        argument=argument,
    )


def check_users(values: object, argument: str = "participants") -> list[str]:
    """Return 1..8 distinct normalised participants, or raise naming the offending value."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ClientValidationError(
            f"{argument} must be a list of phone numbers or WhatsApp ids, got {values!r}", argument=argument
        )
    raw_values = list(values)
    users = [normalise_user(value, argument) for value in raw_values]
    if not 1 <= len(users) <= PARTICIPANTS_PER_CALL:
        raise ClientValidationError(
            f"{argument} must hold 1..{PARTICIPANTS_PER_CALL} entries per call, got {len(users)}"
            " (use the bulk helpers for more)",
            argument=argument,
        )
    seen: set[str] = set()
    for raw, user in zip(raw_values, users, strict=True):
        if user in seen:
            raise ClientValidationError(f"{argument}: {raw!r} is listed twice", argument=argument)
        seen.add(user)
    return users


def check_join_request_ids(values: object, argument: str = "join_request_ids") -> list[str]:
    """Return a non-empty list of distinct join request ids, or raise naming the offending value."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ClientValidationError(f"{argument} must be a list of join request ids, got {values!r}", argument=argument)
    ids = list(values)
    if not ids:
        raise ClientValidationError(f"{argument} must not be empty", argument=argument)
    seen: set[str] = set()
    for value in ids:
        if not isinstance(value, str) or not value.strip():
            raise ClientValidationError(
                f"{argument} entries must be non-empty strings, got {value!r}", argument=argument
            )
        if value in seen:
            raise ClientValidationError(f"{argument}: {value!r} is listed twice", argument=argument)
        seen.add(value)
    return ids


def check_page_size(value: object, maximum: int, argument: str = "page_size") -> int:
    """Return ``value`` if it is an int in 1..maximum."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ClientValidationError(f"{argument} must be an int in 1..{maximum}, got {value!r}", argument=argument)
    return value


def check_fields(fields: object) -> list[str]:
    """Return the group-info fields to ask for, or raise on an unknown one."""
    if isinstance(fields, str) or not isinstance(fields, Iterable):
        raise ClientValidationError(f"fields must be a list of field names, got {fields!r}", argument="fields")
    result = list(fields)
    for field in result:
        if field not in GROUP_INFO_FIELDS and field not in ("id", "messaging_product"):
            raise ClientValidationError(
                f"fields: unknown group field {field!r}; known: {', '.join(GROUP_INFO_FIELDS)}", argument="fields"
            )
    return result


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) from a JPEG's start-of-frame header, or None if none is found."""
    index = 2
    length = len(data)
    while index + 4 <= length:
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            index += 2
            continue
        segment = int.from_bytes(data[index + 2 : index + 4], "big")
        is_sof = 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)
        if is_sof:
            if index + 9 > length:
                return None
            height = int.from_bytes(data[index + 5 : index + 7], "big")
            width = int.from_bytes(data[index + 7 : index + 9], "big")
            return width, height
        if segment < 2:
            return None
        index += 2 + segment
    return None


def check_picture(data: bytes) -> bytes:
    """Check a group picture's bytes: JPEG, at most 5 MB, square, at least 192x192; return them."""
    if len(data) > PICTURE_MAX_BYTES:
        raise ClientValidationError(
            f"picture is {len(data)} bytes; at most {PICTURE_MAX_BYTES} are allowed", argument="picture"
        )
    if not data.startswith(b"\xff\xd8\xff"):
        raise ClientValidationError(
            "picture must be a JPEG image (it does not start with a JPEG marker)", argument="picture"
        )
    size_wh = jpeg_size(data)
    if size_wh is None:
        raise ClientValidationError(
            "picture: no JPEG frame header found; the file may be truncated", argument="picture"
        )
    width, height = size_wh
    if width != height:
        raise ClientValidationError(f"picture must be square, got {width}x{height}", argument="picture")
    if width < PICTURE_MIN_SIDE:
        raise ClientValidationError(
            f"picture must be at least {PICTURE_MIN_SIDE}x{PICTURE_MIN_SIDE}, got {width}x{height}", argument="picture"
        )
    return data
