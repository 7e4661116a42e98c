"""Graph answers into the library's models (pure): envelopes, paging cursors and typed results.

The transport hands :func:`decode_response` each answer's status, headers and raw body; the client then turns
the decoded JSON into models with the ``decode_*`` functions. Malformed answers become
:class:`~wa_groups.errors.ResponseError`, error envelopes the exception :mod:`wa_groups._graph.errors` chooses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import cattrs

from .._core.coerce import as_text
from .._core.wire import load_json
from ..errors import RateLimitError, ResponseError, WAGroupsError
from ..models import (
    FailedJoinRequest,
    GroupInfo,
    GroupSummary,
    JoinRequest,
    JoinRequestsResult,
    Page,
    SentMessage,
)
from .convert import CONVERTER
from .endpoints import GROUPS_PAGE_MAX, JOIN_REQUESTS_PAGE_MAX
from .errors import api_error, error_class_for, error_detail, retry_after_seconds

T = TypeVar("T")

#: HTTP statuses that, with a Graph error envelope, mean the request was refused before being processed.
_REFUSED_UNPROCESSED = frozenset({429, 503})

#: The most items a Graph listing page holds.
MAX_PAGE_ITEMS = max(GROUPS_PAGE_MAX, JOIN_REQUESTS_PAGE_MAX)


def decode_response(status: int, headers: Mapping[str, str], raw: bytes, operation: str) -> Any:
    """Return the decoded JSON of a successful answer, or raise the error the answer carries.

    Raises:
        APIError: The body is a Graph error envelope (or the status is an error with a JSON body).
        ResponseError: The body is not JSON (e.g. a proxy's HTML page).

    """
    decoded = load_json(status, headers, raw, operation, retry_after_seconds)
    if isinstance(decoded, Mapping) and isinstance(decoded.get("error"), Mapping):
        error = api_error(decoded["error"], http_status=status, headers=headers, operation=operation)
        if status in _REFUSED_UNPROCESSED:
            # Graph itself answered "too many requests" or "unavailable" in its own envelope: it refused the
            # request before doing anything, so even an operation never repeated blindly may be sent again.
            # (A bare 503 page from a proxy proves nothing of the kind and stays ambiguous.)
            error.not_processed = True
        raise error
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
    before = as_text(cursors.get("before")) or None
    after = as_text(cursors.get("after")) or None
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
    if len(items_raw) > MAX_PAGE_ITEMS:
        # Graph's pages hold at most 1024 items; a longer one is not Graph's answer (and would be held in memory).
        raise ResponseError(f"{operation}: a page of {len(items_raw)} items, more than Graph's {MAX_PAGE_ITEMS}")
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
        if not isinstance(item, Mapping) or as_text(item.get("join_request_id")) is None:
            raise ResponseError(f"{operation}: a failed join request has no join_request_id")
        item_errors = item.get("errors") or []
        failed.append(
            FailedJoinRequest(
                join_request_id=str(as_text(item.get("join_request_id"))),
                errors=tuple(
                    error_detail(e) for e in (item_errors if isinstance(item_errors, list) else [item_errors])
                ),
            )
        )
    return JoinRequestsResult(
        succeeded=tuple(str(as_text(i)) for i in succeeded if as_text(i) is not None),
        failed=tuple(failed),
        errors=tuple(error_detail(e) for e in errors_raw),
    )


def decode_request_id(decoded: Any) -> str | None:
    """Return the ``request_id`` of an asynchronous operation's answer, if there is one."""
    if not isinstance(decoded, Mapping):
        return None
    return as_text(decoded.get("request_id")) or None


def decode_sent_message(decoded: Any) -> SentMessage:
    """Decode the answer to a message send."""
    top = _mapping(decoded, "send_invite_link_template")
    messages = top.get("messages") or [{}]
    contacts = top.get("contacts") or [{}]
    first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], Mapping) else {}
    contact = contacts[0] if isinstance(contacts, list) and contacts and isinstance(contacts[0], Mapping) else {}
    return SentMessage(
        message_id=as_text(first.get("id")),
        wa_id=as_text(contact.get("wa_id")),
        message_status=as_text(first.get("message_status")),
    )


def check_success(decoded: Any, operation: str) -> None:
    """Raise if an answer that should report success says ``success: false``."""
    if isinstance(decoded, Mapping) and "success" in decoded:
        value = decoded["success"]
        if value is False or (isinstance(value, str) and value.strip().lower() == "false"):
            raise WAGroupsError(f"{operation}: Graph answered success=false")
