"""Graph's limits, its endpoint table and request bodies (pure: plain values in, plain values out).

Shapes follow Meta's OpenAPI file for the Groups endpoints (Graph API v23.0). A new endpoint is one line in
:data:`ENDPOINTS` plus, where it has a body, one builder here; the client method then calls :data:`build`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Final

from .._core.request import build_request, endpoint_table

__all__ = ["ENDPOINTS", "build"]

MESSAGING_PRODUCT: Final = "whatsapp"
SUBJECT_MAX_CHARS: Final = 128
DESCRIPTION_MAX_CHARS: Final = 2048
PARTICIPANTS_PER_CALL: Final = 8
GROUPS_PAGE_MAX: Final = 1024
#: Graph's page size when no ``limit`` is sent.
DEFAULT_PAGE_SIZE: Final = 25
JOIN_REQUESTS_PAGE_MAX: Final = 1024
PICTURE_MAX_BYTES: Final = 5 * 1024 * 1024
PICTURE_MIN_SIDE: Final = 192
#: Every field ``GET /{group_id}`` documents; asked for by default.
GROUP_INFO_FIELDS: Final = (
    "subject",
    "description",
    "suspended",
    "creation_timestamp",
    "participants",
    "total_participant_count",
    "join_approval_mode",
)


#: One table for every operation the client performs. ``repeatable=False`` operations are never sent again
#: after a failure that may have taken effect (a 5xx, a timeout, a dropped connection).
ENDPOINTS: Final = endpoint_table(
    """
    create_group               POST    /{phone_number_id}/groups         once
    list_groups                GET     /{phone_number_id}/groups         repeatable
    get_group                  GET     /{group_id}                       repeatable
    update_group               POST    /{group_id}                       repeatable
    set_group_picture          POST    /{group_id}                       repeatable
    delete_group               DELETE  /{group_id}                       repeatable
    get_invite_link            GET     /{group_id}/invite_link           repeatable
    reset_invite_link          POST    /{group_id}/invite_link           repeatable
    delete_invite_link         DELETE  /{group_id}/invite_link           repeatable
    add_participants           POST    /{group_id}/participants          repeatable
    remove_participants        DELETE  /{group_id}/participants          repeatable
    list_join_requests         GET     /{group_id}/join_requests         repeatable
    approve_join_requests      POST    /{group_id}/join_requests         repeatable
    reject_join_requests       DELETE  /{group_id}/join_requests         repeatable
    send_invite_link_template  POST    /{phone_number_id}/messages       once
    send_message               POST    /{phone_number_id}/messages       once
    pin_message                POST    /{phone_number_id}/messages       once
    """
)


#: Build the request for an operation of :data:`ENDPOINTS`: ``build(operation, json=..., group_id=...)``.
build: Final = functools.partial(build_request, ENDPOINTS)


def body(**fields: Any) -> dict[str, Any]:
    """Return a JSON body with ``messaging_product`` and the given fields that are not None."""
    result: dict[str, Any] = {"messaging_product": MESSAGING_PRODUCT}
    result.update((key, value) for key, value in fields.items() if value is not None)
    return result


def participants_body(users: Sequence[str]) -> dict[str, Any]:
    """Return the add/remove participants body: ``participants`` as ``[{"user": ...}]``."""
    return body(participants=[{"user": user} for user in users])


def invite_template_body(to: str, group_id: str, template_name: str, language: str) -> dict[str, Any]:
    """Return the body of a group invite link template message (schema ``TemplateMessage``)."""
    return body(
        recipient_type="individual",
        to=to,
        type="template",
        template={
            "name": template_name,
            "language": {"policy": "deterministic", "code": language},
            "components": [{"type": "body", "parameters": [{"type": "group_id", "group_id": group_id}]}],
        },
    )
