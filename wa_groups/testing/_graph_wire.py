"""How the fake Graph API writes and reads the wire: errors, cursors, JSON shapes, webhooks, request checks.

The checks refuse what a request carries that Graph would refuse (a field, an uploaded profile picture).
Everything here is a plain function of its arguments; the fake's own tables are kept apart from the
client's on purpose, so a mistake in the client's tables shows up as a failing test.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from aiohttp import web

from wa_groups.testing._graph_state import MAX_PARTICIPANTS_PER_CALL, FakeGroup, Refusal, normalize_user
from wa_groups.testing._routing import json_response

__all__ = [
    "ERRORS",
    "TRANSIENT_CODES",
    "check_picture",
    "decode_cursor",
    "encode_cursor",
    "error_response",
    "group_field",
    "invite_group_id",
    "item_error",
    "jpeg_dimensions",
    "maybe_json",
    "picture_change",
    "read_invite",
    "read_text",
    "read_users",
    "usage_header",
    "webhook_delivery",
]

#: Graph error code -> (HTTP status, message, title for WhatsApp codes).
ERRORS: Final[Mapping[int, tuple[int, str, str | None]]] = {
    1: (500, "An unknown error occurred", None),
    2: (500, "Service temporarily unavailable", None),
    4: (400, "Application request limit reached", None),
    17: (400, "User request limit reached", None),
    80007: (400, "Rate limit issues", None),
    100: (400, "Invalid parameter", None),
    131009: (400, "Parameter value is not valid", "Parameter value is not valid"),
    131020: (400, "Bad Group", "Bad Group"),
    104: (401, "An access token is required to request this resource", None),
    190: (401, "Invalid OAuth access token - Cannot parse access token", None),
    130429: (400, "Rate limit hit", "Rate limit hit"),
    131000: (500, "Something went wrong", "Something went wrong"),
    131016: (503, "Service unavailable", "Service unavailable"),
    131041: (400, "Group unknown", "Group unknown"),
    131057: (503, "Account in maintenance mode", "Account in maintenance mode"),
    131059: (400, "Invalid or expired cursor", "Invalid or expired cursor"),
    131202: (400, "Participant already in group", "Participant already in group"),
    131204: (400, "Participant limit reached", "Participant limit reached"),
    131207: (403, "Group suspended", "Group suspended"),
    131208: (429, "Group rate limit hit", "Group rate limit hit"),
    131209: (400, "Group profile picture is not square", "Image not square"),
    131210: (400, "Group profile picture is too small", "Image too small"),
    131211: (400, "Group create limit reached", "Group create limit reached"),
    131212: (400, "Participant not in group", "Participant not in group"),
    131213: (400, "Join request does not exist", "Join request does not exist"),
}
#: Codes Graph marks ``is_transient`` whatever their HTTP status.
TRANSIENT_CODES: Final = frozenset({1, 2, 131000, 131016, 131057})
MAX_PICTURE_BYTES: Final = 5 * 1024 * 1024
MIN_PICTURE_PIXELS: Final = 192
# JPEG start-of-frame markers (baseline, progressive, lossless...); C4, C8 and CC are other segments.
_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def error_response(
    code: int,
    details: str | None,
    *,
    trace_id: str,
    status: int | None = None,
    subcode: int | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Return a Graph error response for ``code``.

    Args:
        code: The Graph error code; its status, message and title come from :data:`ERRORS`.
        details: The ``error_data.details`` text (the code's message when ``None``).
        trace_id: The ``fbtrace_id`` to put in the envelope.
        status: The HTTP status, when not the code's own.
        subcode: The ``error_subcode``, when there is one.
        message: The ``message``, when not the code's own (``(#code)`` is put in front).
        headers: Extra response headers.

    """
    known_status, known_message, title = ERRORS.get(code, (400, "Simulated failure", None))
    http_status = known_status if status is None else status
    text = message or known_message
    if not text.startswith(f"(#{code})"):
        text = f"(#{code}) {text}"
    error: dict[str, Any] = {"message": text, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if title is not None:
        error["error_user_title"] = title
        error["error_user_msg"] = details or known_message
    error["error_data"] = {"messaging_product": "whatsapp", "details": details or known_message}
    error["is_transient"] = code in TRANSIENT_CODES or http_status >= 500
    error["fbtrace_id"] = trace_id
    all_headers = dict(headers or {})
    if http_status == 401:
        all_headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{known_message}"'
    return json_response({"error": error}, status=http_status, headers=all_headers or None)


def item_error(code: int, details: str) -> dict[str, Any]:
    """Return the error object of one item of a batch answer (a failed join request)."""
    _, message, title = ERRORS[code]
    return {
        "code": code,
        "message": f"(#{code}) {message}",
        "title": title or message,
        "error_data": {"details": details},
    }


def usage_header(waba_id: str, minutes: float) -> str:
    """Return an ``X-Business-Use-Case-Usage`` value announcing ``minutes`` until access comes back."""
    usage = {
        waba_id: [
            {
                "type": "whatsapp",
                "call_count": 100,
                "total_cputime": 100,
                "total_time": 100,
                "estimated_time_to_regain_access": int(minutes) if float(minutes).is_integer() else minutes,
            }
        ]
    }
    return json.dumps(usage, separators=(",", ":"))


def webhook_delivery(
    *,
    waba_id: str,
    phone_number_id: str,
    display_phone_number: str,
    field: str,
    update: dict[str, Any] | None,
    app_secret: str | None,
    value: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Return the body and headers of one webhook POST, signed when there is a secret.

    The change's value carries ``groups: [update]`` (group webhooks), or, for the ``messages`` field, the
    ``value`` given (``statuses``, ``messages``, ``contacts``).
    """
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "field": field,
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": display_phone_number,
                                "phone_number_id": phone_number_id,
                            },
                            **({"groups": [update]} if update is not None else {}),
                            **(value or {}),
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if app_secret is not None:
        digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    return body, headers


def encode_cursor(kind: str, key: str) -> str:
    """Return the cursor pointing at ``key`` of a ``kind`` of list (opaque base64, padding included, as Graph's)."""
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def decode_cursor(cursor: str, kind: str) -> str:
    """Return the key a cursor of ``kind`` points at.

    Raises:
        ValueError: the cursor was not made by :func:`encode_cursor` for ``kind``.

    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error):
        raise ValueError("not a cursor") from None
    prefix, separator, key = raw.partition(":")
    if separator != ":" or prefix != kind or not key:
        raise ValueError("not a cursor of this list")
    return key


def maybe_json(value: str) -> Any:
    """Decode a form field that holds a JSON list or object; leave any other text as it is."""
    if value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def invite_group_id(components: Any) -> str | None:
    """Return the group id of an invite template's body parameter of type ``group_id``, if there is one."""
    if not isinstance(components, list):
        return None
    for component in components:
        if not isinstance(component, dict) or str(component.get("type", "")).lower() != "body":
            continue
        for parameter in component.get("parameters") or ():
            if isinstance(parameter, dict) and parameter.get("type") == "group_id":
                group_id = parameter.get("group_id")
                if isinstance(group_id, str) and group_id:
                    return group_id
    return None


def group_field(group: FakeGroup, name: str, name_user: Callable[[str], dict[str, Any]] | None = None) -> Any:
    """Return one field of ``GET /{group_id}?fields=...`` as Graph writes it (users named by ``name_user``)."""
    if name == "subject":
        return group.subject
    if name == "description":
        return group.description
    if name == "suspended":
        return group.suspended
    if name == "creation_timestamp":
        return group.created_at
    if name == "participants":
        return [name_user(wa_id) if name_user else {"wa_id": wa_id} for wa_id in group.participants]
    if name == "total_participant_count":
        return len(group.participants)
    if name == "join_approval_mode":
        return group.join_approval_mode
    raise KeyError(name)


def picture_change(picture: bytes) -> dict[str, Any]:
    """Return the ``profile_picture`` entry of a ``group_settings_update`` webhook for an uploaded picture."""
    return {
        "mime_type": "image/jpeg",
        "sha256": base64.b64encode(hashlib.sha256(picture).digest()).decode(),
        "update_successful": True,
    }


# -- reading requests: a malformed field is refused with code 100, a bad picture with its own code ------


def read_users(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return the ``participants`` of a request as (as sent, WhatsApp id) pairs."""
    entries = data.get("participants")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_PARTICIPANTS_PER_CALL:
        raise Refusal(100, f"participants must be a list of 1 to {MAX_PARTICIPANTS_PER_CALL} objects with a user")
    users: list[tuple[str, str]] = []
    for entry in entries:
        user = entry.get("user") if isinstance(entry, dict) else None
        if isinstance(user, int) and not isinstance(user, bool):
            user = str(user)
        if not isinstance(user, str) or not normalize_user(user):
            raise Refusal(100, "Each participant needs a non-empty user (phone number or WhatsApp id)")
        users.append((user, normalize_user(user)))
    return users


def read_text(data: Mapping[str, Any], name: str, *, minimum: int, maximum: int) -> str:
    """Return a text field of a request, the subject stripped, refusing one of the wrong length."""
    value = data.get(name)
    if not isinstance(value, str):
        raise Refusal(100, f"The parameter {name} must be a string")
    if name == "subject":
        value = value.strip()
    if not minimum <= len(value) <= maximum:
        raise Refusal(100, f"The parameter {name} must be {minimum} to {maximum} characters long")
    return value


def read_invite(data: Mapping[str, Any]) -> tuple[str, dict[str, Any], str]:
    """Return the recipient, template and group id of a group invite template message."""
    if data.get("recipient_type", "individual") != "individual":
        raise Refusal(100, "recipient_type must be individual")
    to = data.get("to")
    if not isinstance(to, str) or not to.strip():
        raise Refusal(100, "The parameter to is required")
    if data.get("type") != "template":
        raise Refusal(100, "This fake accepts only the group invite template message (type template)")
    template = data.get("template")
    if not isinstance(template, dict):
        raise Refusal(100, "The parameter template is required")
    name = template.get("name")
    language = template.get("language")
    if not isinstance(name, str) or not name:
        raise Refusal(100, "The parameter template.name is required")
    if (
        not isinstance(language, dict)
        or not isinstance(language.get("code"), str)
        or not language["code"]
        or language.get("policy", "deterministic") != "deterministic"
    ):
        raise Refusal(100, "template.language needs a code (and policy deterministic when given)")
    group_id = invite_group_id(template.get("components"))
    if group_id is None:
        raise Refusal(100, "The template needs a body parameter of type group_id")
    return to, template, group_id


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) read from a JPEG's start-of-frame header, or ``None`` when there is none."""
    if not data.startswith(b"\xff\xd8"):
        return None
    index, size = 2, len(data)
    while index + 4 <= size:
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            index += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        length = int.from_bytes(data[index + 2 : index + 4], "big")
        if marker in _SOF_MARKERS:
            if index + 9 > size:
                return None
            height = int.from_bytes(data[index + 5 : index + 7], "big")
            width = int.from_bytes(data[index + 7 : index + 9], "big")
            return width, height
        index += 2 + length
    return None


def check_picture(picture: bytes) -> None:
    """Refuse a profile picture Graph would refuse: too large, not JPEG, not square or too small."""
    if len(picture) > MAX_PICTURE_BYTES:
        raise Refusal(100, "The profile picture is larger than 5 MB")
    if not picture.startswith(b"\xff\xd8\xff"):
        raise Refusal(100, "The profile picture must be a JPEG image")
    size = jpeg_dimensions(picture)
    if size is None:
        raise Refusal(100, "The profile picture is not a readable JPEG image")
    width, height = size
    if width != height:
        raise Refusal(131209, f"The profile picture is {width}x{height} pixels; it must be square")
    if width < MIN_PICTURE_PIXELS:
        raise Refusal(
            131210, f"The profile picture is {width}x{height} pixels; it must be at least {MIN_PICTURE_PIXELS}"
        )
