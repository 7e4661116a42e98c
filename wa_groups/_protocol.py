"""The Graph Groups protocol, with no I/O: limits, endpoints, request building, input checks and decoding.

Everything here takes and returns plain values so it can be tested with canned samples. ``_http`` sends the
:class:`Request` objects built here and hands the answers back to the decoders here.

Shapes follow Meta's OpenAPI file for the Groups endpoints (Graph API v23.0); error classes follow Meta's
Groups error-code table: classify by Graph ``code`` first and by HTTP status second, because most WhatsApp
throttling codes arrive with HTTP 400.
"""

from __future__ import annotations

import email.utils
import functools
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final, TypeVar

import cattrs

from ._converter import CONVERTER
from ._request import FilePart as FilePart  # re-exported: the client and the transport import them from here
from ._request import Request as Request
from ._request import build_request, endpoint_table
from .errors import (
    APIError,
    AuthenticationError,
    ClientValidationError,
    InvalidCursorError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    ServerError,
    WAGroupsError,
)
from .models import (
    ErrorDetail,
    FailedJoinRequest,
    GroupInfo,
    GroupSummary,
    JoinApprovalMode,
    JoinRequest,
    JoinRequestsResult,
    Page,
    SentMessage,
)

T = TypeVar("T")

# --------------------------------------------------------------------------------------------------- limits

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

# ------------------------------------------------------------------------------------------------ endpoints


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
    """
)


#: Build the :class:`Request` for an operation of :data:`ENDPOINTS`: ``build(operation, json=..., group_id=...)``.
build: Final = functools.partial(build_request, ENDPOINTS)


# ----------------------------------------------------------------------------------------------- input checks

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


def normalise_user(value: object, argument: str = "participants") -> str:
    """Return a participant as Graph takes it: digits of a phone number, or a WhatsApp/business-scoped id.

    ``"+1 (650) 555-1234"`` becomes ``"16505551234"``; ids that are not phone numbers pass through unchanged.
    """
    if not isinstance(value, str) or not value.strip():
        raise ClientValidationError(
            f"{argument} entries must be non-empty strings (phone numbers or WhatsApp ids), got {value!r}",
            argument=argument,
        )
    text = value.strip()
    if _USER_CHARS.match(text):
        digits = re.sub(r"\D", "", text)
        if not 5 <= len(digits) <= 20:
            raise ClientValidationError(f"{argument}: {value!r} is not a valid phone number", argument=argument)
        return digits
    if any(ch.isspace() for ch in text) or len(text) > 256:
        raise ClientValidationError(f"{argument}: {value!r} is not a phone number or WhatsApp id", argument=argument)
    return text


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


def check_picture(picture: bytes | str | os.PathLike[str]) -> tuple[bytes, str]:
    """Read and check a group picture: JPEG, at most 5 MB, square, at least 192x192. Return (bytes, filename)."""
    if isinstance(picture, (bytes, bytearray, memoryview)):
        data, filename = bytes(picture), "picture.jpg"
    elif isinstance(picture, (str, os.PathLike)):
        path = os.fspath(picture)
        try:
            size = os.path.getsize(path)
            if size > PICTURE_MAX_BYTES:
                raise ClientValidationError(
                    f"picture {path!r} is {size} bytes; at most {PICTURE_MAX_BYTES} are allowed", argument="picture"
                )
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ClientValidationError(
                f"picture {path!r} cannot be read: {exc.strerror}", argument="picture"
            ) from None
        filename = os.path.basename(path) or "picture.jpg"
    else:
        raise ClientValidationError(
            f"picture must be a path or bytes, got {type(picture).__name__}", argument="picture"
        )
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
    return data, filename


# ---------------------------------------------------------------------------------------------- request bodies


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


# ------------------------------------------------------------------------------------------------- errors

#: Graph error code -> class. One table for the whole library (see Meta's Groups error-code page).
ERROR_CLASSES: Final[Mapping[int, type[APIError]]] = {
    **dict.fromkeys((0, 102, 104, 190), AuthenticationError),
    **dict.fromkeys((3, 10, 131005, 131207, *range(200, 300)), PermissionDeniedError),
    **dict.fromkeys((4, 17, 32, 341, 613, 80007, 130429, 131056, 133016, 131208), RateLimitError),
    **dict.fromkeys(
        (
            33,
            100,
            131008,
            131009,
            131021,
            131020,
            131048,
            131202,
            131203,
            131204,
            131209,
            131210,
            131211,
            131212,
            131214,
            131215,
            131201,
        ),
        InvalidRequestError,
    ),
    **dict.fromkeys((131041, 131213), NotFoundError),
    131059: InvalidCursorError,
    **dict.fromkeys((1, 2, 131000, 131016, 131057), ServerError),
}
#: Graph's code for a request that partly succeeded (HTTP 206).
PARTIAL_SUCCESS: Final = 131201
#: Authentication subcodes (expired or invalidated tokens) that override the code's class.
AUTH_SUBCODES: Final = frozenset({458, 459, 460, 463, 464, 467})


def error_class_for(code: int | None, http_status: int | None, subcode: int | None = None) -> type[APIError]:
    """Return the exception class for a Graph error: by code first, then subcode, then HTTP status."""
    if subcode in AUTH_SUBCODES:
        return AuthenticationError
    if code is not None and code in ERROR_CLASSES:
        return ERROR_CLASSES[code]
    if http_status is not None:
        if http_status == 401:
            return AuthenticationError
        if http_status == 403:
            return PermissionDeniedError
        if http_status == 404:
            return NotFoundError
        if http_status == 429:
            return RateLimitError
        if http_status >= 500:
            return ServerError
        if http_status >= 400:
            return InvalidRequestError
    return APIError


def as_int(value: Any) -> int | None:
    """Return ``value`` as an int when it is one, a whole float or a digit string (Graph mixes them), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return value if isinstance(value, str) else str(value)


def _error_data_details(error_data: Any) -> str | None:
    if isinstance(error_data, str):  # Graph sometimes sends error_data as a JSON string
        try:
            error_data = json.loads(error_data)
        except ValueError:
            return error_data or None
    if isinstance(error_data, Mapping):
        return _as_text(error_data.get("details"))
    return None


def _retry_after_value(text: str) -> float | None:
    """Read ``Retry-After``: seconds, or an HTTP date (RFC 9110); None when unreadable."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
        return max(0.0, seconds)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Return the wait a throttled answer demands: ``Retry-After``, else the usage header's minutes, else None."""
    retry_after = headers.get("Retry-After")
    if retry_after is not None:
        seconds = _retry_after_value(retry_after)
        if seconds is not None:
            return seconds
    usage = headers.get("X-Business-Use-Case-Usage")
    if usage:
        try:
            decoded = json.loads(usage)
        except ValueError:
            return None
        minutes: float | None = None
        if isinstance(decoded, Mapping):
            for entries in decoded.values():
                for entry in entries if isinstance(entries, list) else ():
                    value = entry.get("estimated_time_to_regain_access") if isinstance(entry, Mapping) else None
                    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                        minutes = max(minutes or 0.0, float(value))
        if minutes is not None:
            return minutes * 60.0
    return None


def api_error(
    error: Mapping[str, Any],
    *,
    http_status: int | None,
    headers: Mapping[str, str] | None = None,
    operation: str | None = None,
) -> APIError:
    """Build the typed exception for a Graph error object (the value of ``"error"``)."""
    code = as_int(error.get("code"))
    subcode = as_int(error.get("error_subcode"))
    cls = error_class_for(code, http_status, subcode)
    retry_after = retry_after_seconds(headers) if headers is not None and issubclass(cls, RateLimitError) else None
    message = _as_text(error.get("message")) or _as_text(error.get("error_user_msg")) or "Graph API error"
    is_transient = error.get("is_transient") is True or str(error.get("is_transient")).lower() == "true"
    error_object = cls(
        message,
        http_status=http_status,
        code=code,
        subcode=subcode,
        type=_as_text(error.get("type")),
        title=_as_text(error.get("error_user_title")) or _as_text(error.get("title")),
        details=_error_data_details(error.get("error_data")),
        fbtrace_id=_as_text(error.get("fbtrace_id")),
        is_transient=is_transient,
        retry_after=retry_after,
        operation=operation,
        raw=error,
    )
    if code == PARTIAL_SUCCESS:  # some of the request took effect: never assume it all failed
        error_object.mark_outcome_unknown()
    return error_object


def error_detail(error: Any) -> ErrorDetail:
    """Decode one item of an ``errors`` list inside a successful answer or a webhook."""
    if not isinstance(error, Mapping):
        return ErrorDetail(message=_as_text(error))
    return ErrorDetail(
        code=as_int(error.get("code")),
        message=_as_text(error.get("message")),
        title=_as_text(error.get("title")) or _as_text(error.get("error_user_title")),
        details=_error_data_details(error.get("error_data")) or _as_text(error.get("details")),
    )


def error_from_detail(detail: ErrorDetail, *, operation: str | None = None) -> APIError:
    """Build the typed exception for an :class:`ErrorDetail` (no HTTP status: it came inside a body)."""
    cls = error_class_for(detail.code, None)
    return cls(
        detail.message or detail.title or "Graph API error",
        code=detail.code,
        title=detail.title,
        details=detail.details,
        operation=operation,
    )


# ---------------------------------------------------------------------------------------------- decoding

_EXCERPT = 200


#: Statuses whose meaning does not depend on the body: a proxy's HTML page saying so is classified all the same.
_STATUS_MEANS_IT: Final = frozenset({401, 403, 404, 429})


def load_json(status: int, headers: Mapping[str, str], raw: bytes, operation: str) -> Any:
    """Decode an answer's JSON body (any backend); a body that is not JSON raises.

    A non-JSON 401, 403, 404 or 429 (a proxy or load balancer speaking) raises the class its status means, a
    429 with its ``Retry-After``; any other non-JSON answer raises :class:`ResponseError`.
    """
    try:
        return json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass
    if status in _STATUS_MEANS_IT:
        cls = error_class_for(None, status)
        raise cls(
            f"{operation}: HTTP {status} with a body that is not JSON",
            http_status=status,
            retry_after=retry_after_seconds(headers) if cls is RateLimitError else None,
            operation=operation,
        )
    excerpt = raw[:_EXCERPT].decode("utf-8", "replace")
    raise ResponseError(f"{operation}: the answer is not JSON", http_status=status, body_excerpt=excerpt)


def decode_response(status: int, headers: Mapping[str, str], raw: bytes, operation: str) -> Any:
    """Return the decoded JSON of a successful answer, or raise the error the answer carries.

    Raises:
        APIError: The body is a Graph error envelope (or the status is an error with a JSON body).
        ResponseError: The body is not JSON (e.g. a proxy's HTML page).

    """
    decoded = load_json(status, headers, raw, operation)
    if isinstance(decoded, Mapping) and isinstance(decoded.get("error"), Mapping):
        raise api_error(decoded["error"], http_status=status, headers=headers, operation=operation)
    if status >= 400:
        cls = error_class_for(None, status)
        raise cls(
            f"{operation}: HTTP {status} without a Graph error body",
            http_status=status,
            retry_after=retry_after_seconds(headers) if cls is RateLimitError else None,
            operation=operation,
        )
    return decoded


def _mapping(decoded: Any, operation: str) -> Mapping[str, Any]:
    if not isinstance(decoded, Mapping):
        raise ResponseError(f"{operation}: expected a JSON object, got {type(decoded).__name__}")
    return decoded


def structure(data: Any, cls: type[T], operation: str) -> T:
    """Decode ``data`` into ``cls`` with the library's converter; malformed data becomes :class:`ResponseError`."""
    try:
        return CONVERTER.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        raise ResponseError(f"{operation}: unexpected answer shape ({type(exc).__name__})") from None


def _paging(decoded: Mapping[str, Any], operation: str) -> tuple[str | None, str | None, bool]:
    paging = decoded.get("paging")
    if paging is None:
        return None, None, False
    if not isinstance(paging, Mapping):
        raise ResponseError(f"{operation}: 'paging' is not an object")
    cursors = paging.get("cursors")
    cursors = cursors if isinstance(cursors, Mapping) else {}
    before = _as_text(cursors.get("before")) or None
    after = _as_text(cursors.get("after")) or None
    has_next = bool(paging.get("next"))
    if has_next and not after:
        raise ResponseError(f"{operation}: the answer announces a next page but gives no 'after' cursor")
    return before, after, has_next


def _decode_page(decoded: Any, operation: str, nested: str, cls: type[T]) -> Page[T]:
    """Decode a cursor page whose items are ``data[]`` or ``data.<nested>[]`` (Graph uses both shapes)."""
    top = _mapping(decoded, operation)
    data = top.get("data", [])
    items_raw = data.get(nested, []) if isinstance(data, Mapping) else data
    if not isinstance(items_raw, list):
        raise ResponseError(f"{operation}: the listing is not a list")
    before, after, has_next = _paging(top, operation)
    hook = CONVERTER.get_structure_hook(cls)  # looked up once per page, not per item
    try:
        items = tuple([hook(item, cls) for item in items_raw])
    except (cattrs.BaseValidationError, TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        raise ResponseError(f"{operation}: unexpected answer shape ({type(exc).__name__})") from None
    return Page(items=items, before=before, after=after, has_next=has_next)


def decode_groups_page(decoded: Any) -> Page[GroupSummary]:
    """Decode an active-groups page, accepting both ``data.groups[]`` and ``data[]`` shapes."""
    return _decode_page(decoded, "list_groups", "groups", GroupSummary)


def decode_join_requests_page(decoded: Any) -> Page[JoinRequest]:
    """Decode a join-requests page (``data[]``; a ``data.join_requests[]`` object is accepted too)."""
    return _decode_page(decoded, "list_join_requests", "join_requests", JoinRequest)


def decode_group_info(decoded: Any) -> GroupInfo:
    """Decode ``GET /{group_id}``."""
    return structure(_mapping(decoded, "get_group"), GroupInfo, "get_group")


def decode_invite_link(decoded: Any, operation: str) -> str:
    """Return the invite link from an invite-link answer."""
    link = _mapping(decoded, operation).get("invite_link")
    if not isinstance(link, str) or not link:
        raise ResponseError(f"{operation}: the answer has no invite_link")
    return link


def decode_join_requests_result(decoded: Any, operation: str) -> JoinRequestsResult:
    """Decode an approve/reject answer: ids that succeeded, per-id failures and call-wide errors."""
    top = _mapping(decoded, operation)
    key = "approved_join_requests" if operation.startswith("approve") else "rejected_join_requests"
    succeeded = top.get(key) or []
    failed_raw = top.get("failed_join_requests") or []
    errors_raw = top.get("errors") or []
    if not isinstance(succeeded, list) or not isinstance(failed_raw, list) or not isinstance(errors_raw, list):
        raise ResponseError(f"{operation}: unexpected answer shape")
    failed: list[FailedJoinRequest] = []
    for item in failed_raw:
        if not isinstance(item, Mapping) or _as_text(item.get("join_request_id")) is None:
            raise ResponseError(f"{operation}: a failed join request has no join_request_id")
        item_errors = item.get("errors") or []
        failed.append(
            FailedJoinRequest(
                join_request_id=str(_as_text(item.get("join_request_id"))),
                errors=tuple(
                    error_detail(e) for e in (item_errors if isinstance(item_errors, list) else [item_errors])
                ),
            )
        )
    return JoinRequestsResult(
        succeeded=tuple(str(_as_text(i)) for i in succeeded if _as_text(i) is not None),
        failed=tuple(failed),
        errors=tuple(error_detail(e) for e in errors_raw),
    )


def decode_request_id(decoded: Any) -> str | None:
    """Return the ``request_id`` of an asynchronous operation's answer, if there is one."""
    if not isinstance(decoded, Mapping):
        return None
    return _as_text(decoded.get("request_id")) or None


def decode_sent_message(decoded: Any) -> SentMessage:
    """Decode the answer to a message send."""
    top = _mapping(decoded, "send_invite_link_template")
    messages = top.get("messages") or [{}]
    contacts = top.get("contacts") or [{}]
    first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], Mapping) else {}
    contact = contacts[0] if isinstance(contacts, list) and contacts and isinstance(contacts[0], Mapping) else {}
    return SentMessage(
        message_id=_as_text(first.get("id")),
        wa_id=_as_text(contact.get("wa_id")),
        message_status=_as_text(first.get("message_status")),
    )


def check_success(decoded: Any, operation: str) -> None:
    """Raise if an answer that should report success says ``success: false``."""
    if isinstance(decoded, Mapping) and "success" in decoded:
        value = decoded["success"]
        if value is False or (isinstance(value, str) and value.strip().lower() == "false"):
            raise WAGroupsError(f"{operation}: Graph answered success=false")
