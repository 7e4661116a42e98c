"""WUTS answers into the library's models (pure): the success/error envelope and the typed results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar

import cattrs

from .._core.coerce import as_bool, as_text
from .._core.convert import lenient_converter
from .._core.wire import load_json
from ..errors import ResponseError
from ._protocol import wuts_error
from .models import Community, Group, GroupParticipant, InviteLink, JoinResult, ParticipantAction, ParticipantsResult

T = TypeVar("T")


_EXCERPT: Final = 200


def decode_response(status: int, headers: Mapping[str, str], raw: bytes, operation: str) -> Any:
    """Return the decoded JSON of a successful answer, or raise the error the answer carries.

    An answer fails when its status is 400 or more or when it says ``"success": false`` (whatever the status).

    Raises:
        APIError: A WUTS error (the subclass follows ``error_code``, then the HTTP status).
        ResponseError: The body is not JSON (e.g. a proxy's HTML page).

    """
    decoded = load_json(status, headers, raw, operation)
    envelope: Mapping[str, Any] = decoded if isinstance(decoded, Mapping) else {}
    if status >= 400 or envelope.get("success") in (False, "false"):
        raise wuts_error(envelope, http_status=status, headers=headers, operation=operation)
    return decoded


def _make_converter() -> cattrs.Converter:
    converter = lenient_converter()
    converter.register_structure_hook(bool, lambda value, _: bool(as_bool(value)))
    return converter


CONVERTER: Final = _make_converter()


def _structure(data: Any, cls: type[T], operation: str) -> T:
    try:
        return CONVERTER.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        raise ResponseError(f"{operation}: unexpected answer shape ({type(exc).__name__})") from None


def _field(decoded: Any, key: str, operation: str) -> Any:
    if not isinstance(decoded, Mapping) or key not in decoded:
        raise ResponseError(f"{operation}: the answer has no {key!r}")
    return decoded[key]


def decode_group(decoded: Any, operation: str) -> Group:
    """Decode an answer carrying one ``group`` object."""
    return _structure(_field(decoded, "group", operation), Group, operation)


def decode_groups(decoded: Any) -> list[Group]:
    """Decode ``GET /groups`` (the whole list: WUTS does not page it)."""
    groups = _field(decoded, "groups", "list_groups")
    return _structure(groups if groups is not None else [], list[Group], "list_groups")


def decode_participants(decoded: Any, action: ParticipantAction, operation: str) -> ParticipantsResult:
    """Decode a participants answer: ``participants[]`` and, for communities, ``jid`` and ``action``."""
    items = _field(decoded, "participants", operation) or []
    answered = as_text(decoded.get("action")) or action.value
    try:
        echoed: ParticipantAction | str = ParticipantAction(answered)
    except ValueError:
        echoed = answered
    return ParticipantsResult(
        action=echoed,
        participants=_structure(items, tuple[GroupParticipant, ...], operation),
        jid=as_text(decoded.get("jid")) or None,
    )


def decode_invite(decoded: Any, operation: str) -> InviteLink:
    """Decode a get or reset invite-link answer."""
    link = _field(decoded, "invite_link", operation)
    if not isinstance(link, str) or not link:
        raise ResponseError(f"{operation}: the answer has no invite_link")
    return _structure(decoded, InviteLink, operation)


def decode_join(decoded: Any) -> JoinResult:
    """Decode ``POST /groups/join``."""
    if not isinstance(decoded, Mapping):
        raise ResponseError("join_group: expected a JSON object")
    return _structure(decoded, JoinResult, "join_group")


def decode_ephemeral(decoded: Any, requested: int) -> int:
    """Return the timer WUTS confirms (the one requested when the answer does not repeat it)."""
    value = decoded.get("duration_seconds") if isinstance(decoded, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else requested


def decode_picture(decoded: Any) -> str | None:
    """Return the ``picture_id`` of a set-picture answer, if any."""
    return as_text(decoded.get("picture_id")) if isinstance(decoded, Mapping) else None


def decode_community(decoded: Any) -> Community:
    """Decode ``POST /communities``; the community object's fields are undocumented, so all of it is kept."""
    community = _field(decoded, "community", "create_community")
    if not isinstance(community, Mapping):
        raise ResponseError("create_community: 'community' is not an object")
    return Community(
        jid=as_text(community.get("jid")) or None, name=as_text(community.get("name")), raw=dict(community)
    )
