"""The WUTS groups protocol, with no I/O: endpoints, input checks, request bodies, error mapping and decoding.

WUTS (https://docs.wuts.com.br) is a multi-tenant linked-device gateway. Its answers are flat JSON objects:
``{"success": true, ...fields}`` on success and the envelope ``{"success": false, "error", "error_code",
"timestamp", "validation": [...]}`` on failure. ``wa_groups._http.Transport`` sends the requests built here and
hands the answers to :func:`decode_response`.

Details WUTS's reference leaves open are each settled by one constant or one function in the section
"Chosen readings" below, so a correction is a one-line change there.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Final, TypeVar

from .._core.coerce import as_text
from .._core.request import build_request, endpoint_table
from .._core.wire import retry_after_header, status_error_class
from ..errors import (
    APIError,
    ClientValidationError,
    DeviceNotReadyError,
    InvalidRequestError,
    RateLimitError,
)
from .errors import field_errors
from .ids import PHONE_DIGITS as PHONE_DIGITS
from .ids import check_group_jid as check_group_jid
from .ids import normalise_participant as normalise_participant
from .ids import participant_jid as participant_jid
from .models import (
    GroupParticipant,
    MemberAddMode,
    ParticipantAction,
    ParticipantsResult,
)

T = TypeVar("T")

DEFAULT_BASE_URL: Final = "https://api.wuts.com.br"

# ------------------------------------------------------------------------------------------------- endpoints

#: One table for every operation. ``repeatable=False`` operations (the two creations) are never sent again after
#: a failure that may have taken effect. Promote and demote use the add route with an ``action`` override.
ENDPOINTS: Final = endpoint_table(
    """
    list_groups                    GET     /groups                            repeatable
    create_group                   POST    /groups                            once
    get_group                      GET     /groups/{jid}                      repeatable
    update_group                   PATCH   /groups/{jid}                      repeatable
    add_participants               POST    /groups/{jid}/participants         repeatable
    remove_participants            DELETE  /groups/{jid}/participants         repeatable
    promote_participants           POST    /groups/{jid}/participants         repeatable
    demote_participants            POST    /groups/{jid}/participants         repeatable
    leave_group                    DELETE  /groups/{jid}/leave                repeatable
    get_invite_link                GET     /groups/{jid}/invite               repeatable
    reset_invite_link              POST    /groups/{jid}/invite/reset         repeatable
    join_group                     POST    /groups/join                       repeatable
    set_ephemeral                  PUT     /groups/{jid}/ephemeral            repeatable
    set_group_picture              POST    /groups/{jid}/picture              repeatable
    create_community               POST    /communities                       once
    add_community_participants     POST    /communities/{jid}/participants    repeatable
    remove_community_participants  DELETE  /communities/{jid}/participants    repeatable
    # Chosen reading: WUTS names these two routes (POST and DELETE, community JID in the path, child group JID
    # in the body) but their paths are not in its published reference.
    link_group                     POST    /communities/{jid}/groups          repeatable
    unlink_group                   DELETE  /communities/{jid}/groups          repeatable
    """
)

#: Build the request of an operation of :data:`ENDPOINTS`: ``build(operation, json=..., jid=...)``.
build: Final = functools.partial(build_request, ENDPOINTS)

#: The operation of each participant action on a group.
PARTICIPANT_OPERATIONS: Final[Mapping[ParticipantAction, str]] = {
    ParticipantAction.ADD: "add_participants",
    ParticipantAction.REMOVE: "remove_participants",
    ParticipantAction.PROMOTE: "promote_participants",
    ParticipantAction.DEMOTE: "demote_participants",
}

#: The disappearing-message timers WUTS accepts, in seconds: off, 24 hours, 7 days, 90 days.
EPHEMERAL_DURATIONS: Final = (0, 86_400, 604_800, 7_776_000)

#: Participants per call in bulk jobs (the batches of ``wa_groups.bulk``).
BULK_BATCH_SIZE: Final = 8

# ------------------------------------------------------------------------------------------- chosen readings

#: Most participants one call accepts; WUTS documents no limit, so ``None`` checks none.
PARTICIPANTS_PER_CALL: Final[int | None] = None

#: JSON key of the child group's JID in the link and unlink bodies (undocumented; see ``link_group`` above).
LINK_GROUP_FIELD: Final = "group_jid"

#: JSON key of the invite code in ``POST /groups/join`` (WUTS names the code but not its key).
JOIN_CODE_FIELD: Final = "code"

#: ``update_group`` keyword -> JSON key. ``name``, ``topic``, ``announcement`` and ``member_add_mode`` appear in
#: WUTS's example; ``description``, ``locked`` and ``join_approval`` are read from the create options.
UPDATE_FIELDS: Final[Mapping[str, str]] = {
    "name": "name",
    "topic": "topic",
    "description": "description",
    "announcement": "announcement",
    "locked": "locked",
    "join_approval": "join_approval",
    "member_add_mode": "member_add_mode",
}

#: Whether the community participant routes are sent an ``action`` field (WUTS does not say they take one).
COMMUNITY_SENDS_ACTION: Final = False

#: WUTS ``error_code`` -> class, consulted before the HTTP status (whose value for these codes is undocumented).
ERROR_CODE_CLASSES: Final[Mapping[str, type[APIError]]] = {
    "DEVICE_NOT_READY": DeviceNotReadyError,
}

# ---------------------------------------------------------------------------------------------- input checks

_INVITE_CODE = re.compile(r"^[0-9A-Za-z]{10,64}$")
_INVITE_PREFIX: Final = "https://chat.whatsapp.com/"


def check_users(values: object, argument: str = "users", *, allow_empty: bool = False) -> list[str]:
    """Return distinct normalised participants (at least one unless ``allow_empty``), or raise."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ClientValidationError(
            f"{argument} must be a list of phone numbers, JIDs or LIDs, got {values!r}", argument=argument
        )
    given = list(values)
    jids: dict[str, object] = {}
    for value in given:
        jid = normalise_participant(value, argument)
        if jid in jids:
            raise ClientValidationError(
                f"{argument}: {value!r} and {jids[jid]!r} are the same participant", argument=argument
            )
        jids[jid] = value
    if not jids and not allow_empty:
        raise ClientValidationError(f"{argument} must hold at least one participant", argument=argument)
    if PARTICIPANTS_PER_CALL is not None and len(jids) > PARTICIPANTS_PER_CALL:
        raise ClientValidationError(
            f"{argument} may hold at most {PARTICIPANTS_PER_CALL} participants per call (use the bulk helpers)",
            argument=argument,
        )
    return list(jids)


def check_name(value: object, argument: str = "name") -> str:
    """Return a group or community name trimmed; it must not be empty."""
    if not isinstance(value, str) or not value.strip():
        raise ClientValidationError(f"{argument} must be a non-empty string, got {value!r}", argument=argument)
    return value.strip()


def check_text(value: object, argument: str) -> str:
    """Return ``value`` if it is a string (it may be empty, e.g. to clear a topic)."""
    if not isinstance(value, str):
        raise ClientValidationError(f"{argument} must be a string, got {value!r}", argument=argument)
    return value


def check_flag(value: object, argument: str) -> bool:
    """Return ``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise ClientValidationError(f"{argument} must be True or False, got {value!r}", argument=argument)
    return value


def check_member_add_mode(value: object) -> str:
    """Return the wire value of a member-add mode: a :class:`MemberAddMode` or any non-empty string."""
    if isinstance(value, MemberAddMode):
        return value.value
    if not isinstance(value, str) or not value.strip():
        allowed = ", ".join(repr(mode.value) for mode in MemberAddMode)
        raise ClientValidationError(
            f"member_add_mode must be {allowed} (or another value WUTS accepts), got {value!r}",
            argument="member_add_mode",
        )
    return value.strip()


def check_ephemeral(value: object) -> int:
    """Return a disappearing-message timer in seconds; only 0, 86400, 604800 and 7776000 are accepted."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds in EPHEMERAL_DURATIONS:
        return int(seconds)
    allowed = ", ".join(str(duration) for duration in EPHEMERAL_DURATIONS)
    raise ClientValidationError(
        f"duration must be one of {allowed} seconds (off, 24 hours, 7 days, 90 days), got {value!r}",
        argument="duration",
    )


def check_invite(value: object) -> str:
    """Return an invite link as ``https://chat.whatsapp.com/<code>``; the bare code is accepted too."""
    text = value.strip() if isinstance(value, str) else ""
    for prefix in (_INVITE_PREFIX, "http://chat.whatsapp.com/", "chat.whatsapp.com/"):
        if text.startswith(prefix):
            text = re.split(r"[?#]", text[len(prefix) :], maxsplit=1)[0].rstrip("/")
            break
    if not _INVITE_CODE.match(text):
        raise ClientValidationError(
            f"link must be a WhatsApp invite link (https://chat.whatsapp.com/<code>) or its code, got {value!r}",
            argument="link",
        )
    return _INVITE_PREFIX + text


def check_code(value: object, argument: str = "code") -> str:
    """Return an invite code if it is a non-empty string without whitespace."""
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise ClientValidationError(f"{argument} must be a non-empty invite code, got {value!r}", argument=argument)
    return value.strip()


def encode_picture(data: bytes) -> str:
    """Return a JPEG picture's bytes as base64 text; WUTS documents no size or dimension limit."""
    if not data.startswith(b"\xff\xd8\xff"):
        raise ClientValidationError("picture must be a JPEG image", argument="picture")
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------------------------------------- request bodies


def participants_body(participants: list[str], action: ParticipantAction | None) -> dict[str, Any]:
    """Return a participants body; ``action`` is sent when given (WUTS's override of the route's default)."""
    body: dict[str, Any] = {"participants": participants}
    if action is not None:
        body["action"] = action.value
    return body


def create_body(name: str, participants: list[str], options: Mapping[str, bool | str | None]) -> dict[str, Any]:
    """Return the create-group body; only the options given are sent, so WUTS's defaults apply to the others."""
    body: dict[str, Any] = {"name": name, "participants": participants}
    chosen = {key: value for key, value in options.items() if value is not None}
    if chosen:
        body["options"] = chosen
    return body


# ---------------------------------------------------------------------------------------------------- errors


def error_class(error_code: str | None, http_status: int | None) -> type[APIError]:
    """Return the exception class for a WUTS error: by ``error_code`` first, then by HTTP status."""
    if error_code is not None and error_code in ERROR_CODE_CLASSES:
        return ERROR_CODE_CLASSES[error_code]
    return status_error_class(http_status)


def wuts_error(
    envelope: Mapping[str, Any],
    *,
    http_status: int | None,
    headers: Mapping[str, str] | None = None,
    operation: str | None = None,
) -> APIError:
    """Build the typed exception for a WUTS error envelope.

    The ``error_code`` goes to ``error.type``, the ``validation`` list to ``error.details`` (as text) and, typed,
    to :func:`wa_groups.wuts.validation_errors`; the whole envelope is ``error.raw``.
    """
    code = as_text(envelope.get("error_code")) or None
    cls = error_class(code, http_status)
    issues = field_errors(envelope.get("validation"))
    message = as_text(envelope.get("error")) or as_text(envelope.get("message"))
    if not message:
        message = f"{operation or 'request'}: WUTS answered HTTP {http_status} without an error message"
    retry_after = retry_after_header(headers) if headers is not None and issubclass(cls, RateLimitError) else None
    return cls(
        message,
        http_status=http_status,
        type=code,
        details="; ".join(str(issue) for issue in issues) or None,
        retry_after=retry_after,
        operation=operation,
        raw=envelope,
    )


# ------------------------------------------------------------------------------------ per-participant outcome


def participant_outcomes(
    action: ParticipantAction, sent: list[str], result: ParticipantsResult
) -> tuple[list[str], dict[str, str]]:
    """Sort the participants of one call into succeeded and failed (with a reason), from WUTS's answer.

    WUTS documents its per-participant result only as ``{jid, phone_number, is_admin, is_super_admin}`` items.
    This library reads it as one item per participant that was handled, and so:

    - a participant absent from the answer (by ``jid`` or ``phone_number``) failed;
    - after a promote, an item that is not an admin failed; after a demote, one that still is an admin failed.

    This is the one place to change if WUTS turns out to report failures otherwise.
    """
    reported: dict[str, GroupParticipant] = {}
    for entry in result.participants:
        for spelling in (entry.jid, entry.phone_number):
            jid = participant_jid(spelling) if spelling else None
            if jid is not None:
                reported.setdefault(jid, entry)
    succeeded: list[str] = []
    failed: dict[str, str] = {}
    for participant in sent:
        item = reported.get(participant)
        if item is None:
            failed[participant] = "WUTS did not report this participant as handled"
        elif action is ParticipantAction.PROMOTE and not item.is_admin:
            failed[participant] = "the participant is still not an admin"
        elif action is ParticipantAction.DEMOTE and item.is_admin:
            failed[participant] = "the participant is still an admin"
        else:
            succeeded.append(participant)
    return succeeded, failed


def participant_error(operation: str, participant: str, reason: str) -> InvalidRequestError:
    """Return the error recorded for one participant that a call did not handle."""
    return InvalidRequestError(f"{operation}: {participant}: {reason}", operation=operation)


def in_wanted_state(action: ParticipantAction, member: GroupParticipant | None) -> bool:
    """Tell whether a participant (``None``: not a member) is already as ``action`` would leave them."""
    if action is ParticipantAction.ADD:
        return member is not None
    if action is ParticipantAction.REMOVE:
        return member is None
    return member is not None and member.is_admin == (action is ParticipantAction.PROMOTE)
