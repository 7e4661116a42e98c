"""The fake Graph API's routes: read each request, apply the state's rules, answer in Graph's shapes.

A message to a group is handed to the group messaging half (:mod:`~wa_groups.testing._graph_messages_routes`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from wa_groups.testing._graph_state import (
    DEFAULT_PAGE_SIZE,
    GROUP_FIELDS,
    JOIN_APPROVAL_MODES,
    MAX_DESCRIPTION_CHARS,
    MAX_PAGE_SIZE,
    MAX_SUBJECT_CHARS,
    FakeGroup,
    GraphState,
    Refusal,
    join_requests,
    timestamp,
)
from wa_groups.testing._graph_wire import (
    check_picture,
    decode_cursor,
    encode_cursor,
    error_response,
    group_field,
    item_error,
    maybe_json,
    picture_change,
    read_invite,
    read_text,
    read_users,
)
from wa_groups.testing._routing import Abort, Call, Route, json_response
from wa_groups.testing._store import IndexedDict

__all__ = ["Emit", "GraphRoutes", "SendToGroup"]

#: Queue a webhook: business number, webhook field, the ``groups[0]`` update.
Emit = Callable[[str, str, dict[str, Any]], None]
#: Answer a message to a group: business number, the request's fields.
SendToGroup = Callable[[str, dict[str, Any]], web.Response]

_Handler = Callable[[Call], Awaitable[web.Response]]

_NODE: Final = r"/(?P<version>v\d+\.\d+)/(?P<node>[^/]+)"


class GraphRoutes:
    """The handlers of the fake Graph API's routes, over one :class:`GraphState`."""

    def __init__(
        self, state: GraphState, emit: Emit, send_to_group: SendToGroup, *, legacy_list_shape: bool = False
    ) -> None:
        self._state = state
        self._emit = emit
        self._send_to_group = send_to_group
        #: Answer the group list as ``{"data": [...]}`` (an older shape) instead of ``{"data": {"groups": [...]}}``.
        self.legacy_list_shape = legacy_list_shape

    def table(self) -> list[Route]:
        """Return the routing table, each handler turning a :class:`Refusal` into Graph's error."""
        table = [
            ("POST", "/groups", self._create_group),
            ("GET", "/groups", self._list_groups),
            ("POST", "/messages", self._send_message),
            ("GET", "/invite_link", self._get_invite_link),
            ("POST", "/invite_link", self._reset_invite_link),
            ("DELETE", "/invite_link", self._delete_invite_link),
            ("POST", "/participants", self._add_participants),
            ("DELETE", "/participants", self._remove_participants),
            ("GET", "/join_requests", self._list_join_requests),
            ("POST", "/join_requests", self._approve_join_requests),
            ("DELETE", "/join_requests", self._reject_join_requests),
            ("GET", "", self._get_group),
            ("POST", "", self._update_group),
            ("DELETE", "", self._delete_group),
        ]
        return [Route(method, re.compile(_NODE + suffix), self._refusals(handler)) for method, suffix, handler in table]

    def error(self, code: int, details: str | None = None, **kwargs: Any) -> web.Response:
        """Return Graph's error response for ``code`` with a fresh ``fbtrace_id``."""
        return error_response(code, details, trace_id=self._state.token(11), **kwargs)

    def fail(self, code: int, details: str | None = None, **kwargs: Any) -> Abort:
        """Return an :class:`Abort` carrying :meth:`error` for a handler to raise."""
        return Abort(self.error(code, details, **kwargs))

    def _refusals(self, handler: _Handler) -> _Handler:
        async def answer(call: Call) -> web.Response:
            try:
                return await handler(call)
            except Refusal as refusal:
                raise self.fail(refusal.code, refusal.details) from None

        return answer

    # -- reading requests ------------------------------------------------------------------------

    def _number(self, call: Call) -> str:
        node = call.params["node"]
        if node not in self._state.numbers:
            raise self._unsupported(call)
        return node

    def _unsupported(self, call: Call) -> Abort:
        node = call.params["node"]
        text = (
            f"Unsupported {call.request.method.lower()} request. Object with ID '{node}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation"
        )
        return self.fail(100, text, subcode=33, message=text)

    def _group(self, call: Call, *, write: bool) -> FakeGroup:
        node = call.params["node"]
        group = self._state.groups.get(node)
        if group is None:
            if node in self._state.numbers:
                raise self._unsupported(call)
            raise self.fail(131041, f"No group with id {node}")
        if write and group.suspended:
            raise self.fail(131207, "The group is suspended and cannot be changed")
        return group

    def _fields(self, call: Call) -> dict[str, Any]:
        body = call.body
        if body.invalid_json:
            raise self.fail(100, "The request body is not valid JSON")
        if body.json is not None:
            if not isinstance(body.json, dict):
                raise self.fail(100, "The request body must be a JSON object")
            data: dict[str, Any] = body.json
        elif body.form is not None:
            data = {name: maybe_json(value) for name, value in body.form.items()}
        else:
            data = {}
        if data.get("messaging_product") != "whatsapp":
            raise self.fail(100, "The parameter messaging_product is required and must be 'whatsapp'")
        return data

    def _page_size(self, call: Call) -> int:
        raw = call.request.query.get("limit")
        if raw is None:
            return DEFAULT_PAGE_SIZE
        try:
            limit = int(raw)
        except ValueError:
            raise self.fail(100, "The parameter limit must be an integer") from None
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise self.fail(100, f"The parameter limit must be between 1 and {MAX_PAGE_SIZE}")
        return limit

    def _cursor_key(self, call: Call, name: str, kind: str) -> str | None:
        cursor = call.request.query.get(name)
        if cursor is None:
            return None
        try:
            return decode_cursor(cursor, kind)
        except ValueError:
            raise self.fail(131059, "The cursor is not valid") from None

    def _page(
        self, call: Call, kind: str, items: IndexedDict[str, Any], where: Any = None
    ) -> tuple[list[Any], dict[str, Any] | None]:
        limit = self._page_size(call)
        after = self._cursor_key(call, "after", kind)
        before = None if after is not None else self._cursor_key(call, "before", kind)
        try:
            found, more = items.page(limit=limit, after=after, before=before, where=where)
        except KeyError:
            raise self.fail(131059, "The cursor points at an item that no longer exists") from None
        if not found:
            return [], None
        first = encode_cursor(kind, found[0][0])
        last = encode_cursor(kind, found[-1][0])
        paging: dict[str, Any] = {"cursors": {"before": first, "after": last}}
        if more:
            paging["next"] = str(call.request.url.with_query({"limit": str(limit), "after": last}))
        return [value for _, value in found], paging

    # -- business number -------------------------------------------------------------------------

    async def _create_group(self, call: Call) -> web.Response:
        number = self._number(call)
        data = self._fields(call)
        subject = read_text(data, "subject", minimum=1, maximum=MAX_SUBJECT_CHARS)
        description = ""
        if data.get("description") is not None:
            description = read_text(data, "description", minimum=0, maximum=MAX_DESCRIPTION_CHARS)
        mode = data.get("join_approval_mode", "auto_approve")
        if mode not in JOIN_APPROVAL_MODES:
            raise self.fail(100, "join_approval_mode must be approval_required or auto_approve")
        group = self._state.create_group(number, subject, description=description, join_approval_mode=mode)
        request_id = self._state.request_id()
        update = {
            "timestamp": str(group.created_at),
            "group_id": group.id,
            "type": "group_create",
            "request_id": request_id,
            "subject": group.subject,
            "description": group.description,
            "invite_link": group.invite_link,
            "join_approval_mode": group.join_approval_mode,
        }
        self._emit(number, "group_lifecycle_update", update)
        return json_response({"messaging_product": "whatsapp", "request_id": request_id})

    async def _list_groups(self, call: Call) -> web.Response:
        number = self._number(call)
        found, paging = self._page(call, "g", self._state.groups, lambda group: group.phone_number_id == number)
        groups = [{"id": group.id, "subject": group.subject, "created_at": str(group.created_at)} for group in found]
        payload: dict[str, Any] = {"data": groups if self.legacy_list_shape else {"groups": groups}}
        if paging is not None:
            payload["paging"] = paging
        return json_response(payload)

    async def _send_message(self, call: Call) -> web.Response:
        number = self._number(call)
        data = self._fields(call)
        if data.get("recipient_type") == "group":
            return self._send_to_group(number, data)
        to, template, group_id = read_invite(data)
        message_id, wa_id = self._state.send_invite(to, group_id, template)
        return json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [{"id": message_id}],
            }
        )

    # -- group -----------------------------------------------------------------------------------

    async def _get_group(self, call: Call) -> web.Response:
        group = self._group(call, write=False)
        requested = [name.strip() for name in call.request.query.get("fields", "").split(",") if name.strip()]
        unknown = [name for name in requested if name not in GROUP_FIELDS]
        if unknown:
            raise self.fail(100, f"Tried accessing nonexisting field ({unknown[0]}) on node type (WhatsAppGroup)")
        info: dict[str, Any] = {"id": group.id, "messaging_product": "whatsapp"}
        for name in requested:
            if name not in info:
                info[name] = group_field(group, name, self._state.names.of)
        return json_response(info)

    async def _update_group(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        data = self._fields(call)
        files = call.body.files or {}
        picture = files.get("file", files.get("profile_picture_file"))
        changes: dict[str, Any] = {}
        subject = description = None
        if data.get("subject") is not None:
            subject = read_text(data, "subject", minimum=1, maximum=MAX_SUBJECT_CHARS)
        if data.get("description") is not None:
            description = read_text(data, "description", minimum=0, maximum=MAX_DESCRIPTION_CHARS)
        if picture is not None:
            check_picture(picture)
        if subject is None and description is None and picture is None:
            raise self.fail(100, "Give at least one of subject, description or a profile picture file")
        if subject is not None:
            group.subject = subject
            changes["group_subject"] = {"text": subject, "update_successful": True}
        if description is not None:
            group.description = description
            changes["group_description"] = {"text": description, "update_successful": True}
        if picture is not None:
            group.profile_picture = picture
            changes["profile_picture"] = picture_change(picture)
        request_id = self._state.request_id()
        update = {
            "timestamp": str(timestamp()),
            "group_id": group.id,
            "type": "group_settings_update",
            "request_id": request_id,
            **changes,
        }
        self._emit(group.phone_number_id, "group_settings_update", update)
        return json_response({"messaging_product": "whatsapp", "request_id": request_id})

    async def _delete_group(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        del self._state.groups[group.id]
        update = {
            "timestamp": str(timestamp()),
            "group_id": group.id,
            "type": "group_delete",
            "request_id": self._state.request_id(),
        }
        self._emit(group.phone_number_id, "group_lifecycle_update", update)
        return json_response({"success": True})

    async def _get_invite_link(self, call: Call) -> web.Response:
        group = self._group(call, write=False)
        if group.invite_link is None:
            group.invite_link = self._state.invite_link()
        return json_response({"messaging_product": "whatsapp", "invite_link": group.invite_link})

    async def _reset_invite_link(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        self._fields(call)
        group.invite_link = self._state.invite_link()
        return json_response({"messaging_product": "whatsapp", "invite_link": group.invite_link})

    async def _delete_invite_link(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        self._fields(call)
        group.invite_link = None
        return json_response({"messaging_product": "whatsapp", "success": "true"})

    async def _add_participants(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        users = read_users(self._fields(call))
        self._state.add_participants(group, users)
        request_id = self._state.request_id()
        update = {
            "timestamp": str(timestamp()),
            "group_id": group.id,
            "type": "group_participants_add",
            "request_id": request_id,
            "added_participants": [{"input": raw, **self._state.names.of(wa_id)} for raw, wa_id in users],
        }
        self._emit(group.phone_number_id, "group_participants_update", update)
        return json_response({"messaging_product": "whatsapp", "request_id": request_id})

    async def _remove_participants(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        users = read_users(self._fields(call))
        self._state.remove_participants(group, users)
        request_id = self._state.request_id()
        update = {
            "timestamp": str(timestamp()),
            "group_id": group.id,
            "type": "group_participants_remove",
            "request_id": request_id,
            "removed_participants": [
                {"input": raw, **(self._state.names.of(wa_id) if self._state.names.bsuid_era else {})}
                for raw, wa_id in users
            ],
            "failed_participants": [],
            "initiated_by": "business",
        }
        self._emit(group.phone_number_id, "group_participants_update", update)
        return json_response({"messaging_product": "whatsapp", "request_id": request_id})

    async def _list_join_requests(self, call: Call) -> web.Response:
        group = self._group(call, write=False)
        found, paging = self._page(call, "j", join_requests(group))
        data = [
            {
                "join_request_id": request.id,
                **self._state.names.of(request.wa_id),
                "creation_timestamp": request.created_at,
            }
            for request in found
        ]
        payload: dict[str, Any] = {"data": data}
        if paging is not None:
            payload["paging"] = paging
        return json_response(payload)

    async def _approve_join_requests(self, call: Call) -> web.Response:
        return self._settle_join_requests(call, approve=True)

    async def _reject_join_requests(self, call: Call) -> web.Response:
        return self._settle_join_requests(call, approve=False)

    def _settle_join_requests(self, call: Call, *, approve: bool) -> web.Response:
        group = self._group(call, write=True)
        ids = self._fields(call).get("join_requests")
        if not isinstance(ids, list) or not ids:
            raise self.fail(100, "join_requests must be a non-empty list of join request ids")
        outcome = self._state.settle_join_requests(group, ids, approve=approve)
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            ("approved_join_requests" if approve else "rejected_join_requests"): outcome.done,
        }
        if outcome.failed:
            payload["failed_join_requests"] = [
                {"join_request_id": request_id, "errors": [item_error(code, details)]}
                for request_id, code, details in outcome.failed
            ]
        if outcome.added:
            update = {
                "timestamp": str(timestamp()),
                "group_id": group.id,
                "type": "group_participants_add",
                "reason": "invite_link",
                "added_participants": [self._state.names.of(wa_id) for wa_id in outcome.added],
            }
            self._emit(group.phone_number_id, "group_participants_update", update)
        return json_response(payload)
