"""WhatsApp ids as the WUTS gateway takes them: group JIDs and participants (public, pure).

:func:`normalise_participant` is what every WUTS call applies to a participant; use it to check or convert
your own lists before a bulk job. The phone rule (:data:`PHONE_DIGITS`) is this library's reading of WUTS's
rule for phone fields.
"""

from __future__ import annotations

import re
from typing import Final

from ..errors import ClientValidationError

__all__ = ["PHONE_DIGITS", "check_group_jid", "normalise_participant", "participant_jid"]

#: Digits a phone number has once spaces, dashes, dots, parentheses and a leading ``+`` are removed. WUTS
#: states the rule for phone fields in general; that it holds for group participants is this library's reading.
PHONE_DIGITS: Final = range(10, 16)

_GROUP_JID = re.compile(r"^(\d+(?:-\d+)?)(?:@g\.us)?$", re.IGNORECASE)
_PHONE = re.compile(r"^\+?[\d\s().\-]+$")
_USER_JID = re.compile(r"^(\d+)@(?:s\.whatsapp\.net|c\.us)$", re.IGNORECASE)
_LID = re.compile(r"^([0-9a-z]+)@lid$", re.IGNORECASE)


def check_group_jid(value: object, argument: str = "group_id") -> str:
    """Return a group or community JID as ``<digits>@g.us``; the bare digits are accepted too."""
    found = _GROUP_JID.match(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise ClientValidationError(
            f"{argument} must be a group JID such as '120363039000000000@g.us', got {value!r}", argument=argument
        )
    return f"{found.group(1)}@g.us"


def _phone_jid(digits: str) -> str | None:
    if len(digits) in PHONE_DIGITS and not digits.startswith("0"):
        return f"{digits}@s.whatsapp.net"
    return None


def participant_jid(value: str) -> str | None:
    """Return the JID a participant written as a phone, user JID or LID stands for, or ``None``.

    ``"+55 (11) 99999-9999"``, ``"5511999999999"`` and ``"5511999999999@s.whatsapp.net"`` all give
    ``"5511999999999@s.whatsapp.net"``; ``"123@lid"`` stays ``"123@lid"``.
    """
    text = value.strip()
    if _PHONE.match(text):
        return _phone_jid(re.sub(r"\D", "", text))
    user = _USER_JID.match(text)
    if user is not None:
        return _phone_jid(user.group(1))
    lid = _LID.match(text)
    return f"{lid.group(1)}@lid" if lid is not None else None


def normalise_participant(value: object, argument: str = "participants") -> str:
    """Return a participant as the user JID (or ``@lid`` id) sent to WUTS, or raise naming the value.

    Accepted: a phone number with its country code in any usual spelling (``+55 (11) 99999-9999``), a user JID
    (``5511999999999@s.whatsapp.net``, ``@c.us`` too) or a LID (``…@lid``).
    """
    jid = participant_jid(value) if isinstance(value, str) else None
    if jid is None:
        raise ClientValidationError(
            f"{argument}: {value!r} is not a participant WUTS accepts: give a phone number with its country code "
            f"({PHONE_DIGITS.start} to {PHONE_DIGITS.stop - 1} digits, e.g. '+55 11 99999-9999'), a user JID "
            "('5511999999999@s.whatsapp.net') or a LID ('…@lid')",
            argument=argument,
        )
    return jid
