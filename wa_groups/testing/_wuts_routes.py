"""The fake WUTS gateway's routes: read each request, apply the state's rules, answer WUTS's flat JSON."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web

from wa_groups.testing._routing import Call, Route, json_response
from wa_groups.testing._wuts_state import ACTIONS, MEMBER_ADD_MODES, FakeWutsGroup, WutsState, now
from wa_groups.testing._wuts_wire import fail, invalid
from wa_groups.wuts._protocol import EPHEMERAL_DURATIONS, LINK_GROUP_FIELD, participant_jid

__all__ = ["WutsRoutes"]

_JID: Final = r"(?P<jid>[^/]+)"


class WutsRoutes:
    """The handlers of the fake WUTS gateway's routes, over one :class:`WutsState`."""

    def __init__(self, state: WutsState) -> None:
        self._state = state

    def table(self) -> list[Route]:
        """Return the routing table; every route answers ``DEVICE_NOT_READY`` while the device is down."""
        table: list[tuple[str, str, Callable[[Call], Awaitable[web.Response]]]] = [
            ("GET", "/groups", self._list_groups),
            ("POST", "/groups", self._create_group),
            ("POST", "/groups/join", self._join_group),
            ("GET", f"/groups/{_JID}", self._get_group),
            ("PATCH", f"/groups/{_JID}", self._update_group),
            ("POST", f"/groups/{_JID}/participants", self._add_participants),
            ("DELETE", f"/groups/{_JID}/participants", self._remove_participants),
            ("DELETE", f"/groups/{_JID}/leave", self._leave_group),
            ("GET", f"/groups/{_JID}/invite", self._get_invite),
            ("POST", f"/groups/{_JID}/invite/reset", self._reset_invite),
            ("PUT", f"/groups/{_JID}/ephemeral", self._set_ephemeral),
            ("POST", f"/groups/{_JID}/picture", self._set_picture),
            ("POST", "/communities", self._create_community),
            ("POST", f"/communities/{_JID}/participants", self._add_community_participants),
            ("DELETE", f"/communities/{_JID}/participants", self._remove_community_participants),
            ("POST", f"/communities/{_JID}/groups", self._link_group),
            ("DELETE", f"/communities/{_JID}/groups", self._unlink_group),
        ]
        return [Route(method, re.compile(path), self._when_ready(handler)) for method, path, handler in table]

    def _when_ready(
        self, handler: Callable[[Call], Awaitable[web.Response]]
    ) -> Callable[[Call], Awaitable[web.Response]]:
        async def guarded(call: Call) -> web.Response:
            if not self._state.device_ready:
                raise fail(503, "WhatsApp session is not connected", error_code="DEVICE_NOT_READY")
            return await handler(call)

        return guarded

    def _body(self, call: Call) -> dict[str, Any]:
        body = call.body
        if body.invalid_json:
            raise fail(400, "malformed JSON")
        if body.json is None:
            return {}
        if not isinstance(body.json, dict):
            raise fail(400, "the request body must be a JSON object")
        return body.json

    def _group(self, jid: str, *, admin: bool = False, community: bool = False) -> FakeWutsGroup:
        if participant_jid(jid) is not None or not jid.endswith("@g.us"):
            raise invalid("jid", "invalid group JID", jid)
        group = self._state.groups.get(jid)
        if group is None:
            raise fail(404, f"group {jid} not found")
        member = group.members.get(self._state.device_jid)
        if member is None:
            raise fail(403, "the device is not a participant of this group")
        if admin and not (member.is_admin or member.is_super_admin):
            raise fail(403, "the device is not an admin of this group")
        if community and not group.is_community:
            raise invalid("jid", "not a community", jid)
        return group

    def _participants(self, data: Mapping[str, Any], *, allow_empty: bool = False) -> list[str]:
        entries = data.get("participants", [] if allow_empty else None)
        if not isinstance(entries, list) or (not entries and not allow_empty):
            raise invalid("participants", "a non-empty list of participants is required", entries)
        jids: list[str] = []
        for index, entry in enumerate(entries):
            jid = participant_jid(entry) if isinstance(entry, str) else None
            if jid is None:
                raise invalid(f"participants[{index}]", "not a phone number, JID or LID", entry)
            if jid not in jids:
                jids.append(jid)
        return jids

    def _flag(self, data: Mapping[str, Any], key: str, field: str | None = None) -> bool | None:
        value = data.get(key)
        if value is not None and not isinstance(value, bool):
            raise invalid(field or key, "must be a boolean", value)
        return value

    def _name(self, data: Mapping[str, Any]) -> str:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid("name", "a non-empty name is required", name)
        return name.strip()

    async def _change_participants(self, call: Call, default: str) -> web.Response:
        group = self._group(call.params["jid"], admin=True)
        data = self._body(call)
        action = data.get("action", default)
        if action not in ACTIONS:
            raise invalid("action", f"must be one of {', '.join(ACTIONS)}", action)
        handled = self._state.apply(group, action, self._participants(data))
        return json_response({"success": True, "participants": handled})

    async def _add_participants(self, call: Call) -> web.Response:
        return await self._change_participants(call, "add")

    async def _remove_participants(self, call: Call) -> web.Response:
        return await self._change_participants(call, "remove")

    async def _change_community(self, call: Call, default: str) -> web.Response:
        community = self._group(call.params["jid"], admin=True, community=True)
        data = self._body(call)
        action = data.get("action", default)
        if action not in ("add", "remove"):
            raise invalid("action", "must be add or remove", action)
        jids = self._participants(data)
        handled = self._state.apply(community, action, jids)
        for group in self._state.groups.values():
            announcements = group.jid == community.announcement_group_jid
            if announcements or (action == "remove" and group.parent_jid == community.jid):
                self._state.apply(group, action, [item["jid"] for item in handled])
        return json_response({"success": True, "jid": community.jid, "action": action, "participants": handled})

    async def _add_community_participants(self, call: Call) -> web.Response:
        return await self._change_community(call, "add")

    async def _remove_community_participants(self, call: Call) -> web.Response:
        return await self._change_community(call, "remove")

    # -- groups ----------------------------------------------------------------------------------

    async def _list_groups(self, call: Call) -> web.Response:
        mine = [group for group in self._state.groups.values() if self._state.device_jid in group.members]
        return json_response({"success": True, "groups": [group.to_json(with_members=False) for group in mine]})

    async def _create_group(self, call: Call) -> web.Response:
        data = self._body(call)
        name = self._name(data)
        jids = self._participants(data)
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise invalid("options", "must be an object", options)
        flags = {key: self._flag(options, key, f"options.{key}") for key in ("announcement", "locked", "join_approval")}
        community = self._flag(options, "community", "options.community")
        parent_jid = options.get("parent_jid")
        parent = None if parent_jid is None else self._group(str(parent_jid), admin=True, community=True)
        group = self._state.new_group(name, owner=self._state.device_jid, join_approval=bool(flags["join_approval"]))
        group.announce, group.locked = bool(flags["announcement"]), bool(flags["locked"])
        self._state.seat_device(group, creator=True)
        self._state.apply(group, "add", jids)
        if community:
            self._state.make_community(group)
        if parent is not None:
            group.parent_jid = parent.jid
        return json_response({"success": True, "group": group.to_json(with_members=True)}, status=201)

    async def _get_group(self, call: Call) -> web.Response:
        group = self._group(call.params["jid"])
        return json_response({"success": True, "group": group.to_json(with_members=True)})

    async def _update_group(self, call: Call) -> web.Response:
        group = self._group(call.params["jid"], admin=True)
        data = self._body(call)
        known = ("name", "topic", "description", "announcement", "locked", "join_approval", "member_add_mode")
        if not any(data.get(key) is not None for key in known):
            raise invalid("body", f"at least one of {', '.join(known)} is required")
        name = None if data.get("name") is None else self._name(data)
        texts = {key: data.get(key) for key in ("topic", "description")}
        for key, value in texts.items():
            if value is not None and not isinstance(value, str):
                raise invalid(key, "must be a string", value)
        flags = {key: self._flag(data, key) for key in ("announcement", "locked", "join_approval")}
        mode = data.get("member_add_mode")
        if mode is not None and mode not in MEMBER_ADD_MODES:
            raise invalid("member_add_mode", f"must be one of {', '.join(sorted(MEMBER_ADD_MODES))}", mode)
        if name is not None:
            group.name = name
        topic = texts["topic"] if texts["topic"] is not None else texts["description"]
        if topic is not None:
            group.topic = topic
        if flags["announcement"] is not None:
            group.announce = flags["announcement"]
        if flags["locked"] is not None:
            group.locked = flags["locked"]
        if flags["join_approval"] is not None:
            group.join_approval = flags["join_approval"]
        if mode is not None:
            group.member_add_mode = mode
        return json_response({"success": True, "group": group.to_json(with_members=False)})

    async def _leave_group(self, call: Call) -> web.Response:
        group = self._group(call.params["jid"])
        del group.members[self._state.device_jid]
        return json_response({"success": True})

    async def _get_invite(self, call: Call) -> web.Response:
        group = self._group(call.params["jid"], admin=True)
        return json_response({"success": True, "group_jid": group.jid, "invite_link": group.invite_link})

    async def _reset_invite(self, call: Call) -> web.Response:
        group = self._group(call.params["jid"], admin=True)
        group.invite_code = self._state.code()
        return json_response(
            {"success": True, "group_jid": group.jid, "invite_link": group.invite_link, "reset_at": now()}
        )

    async def _join_group(self, call: Call) -> web.Response:
        data = self._body(call)
        link, code = data.get("link"), data.get("code")
        if isinstance(link, str) and link:
            code = link.rstrip("/").rsplit("/", 1)[-1]
            group = next((g for g in self._state.groups.values() if g.invite_code == code), None)
        elif isinstance(code, str) and code:
            for key in ("group_jid", "inviter_jid"):
                if not isinstance(data.get(key), str) or not data[key]:
                    raise invalid(key, "required with code", data.get(key))
            group = self._state.groups.get(data["group_jid"])
            if group is not None and group.invite_code != code:
                group = None
        else:
            raise invalid("link", "give a link, or a code with group_jid and inviter_jid", link)
        if group is None:
            raise fail(404, "invite not found or revoked")
        pending = group.join_approval and self._state.device_jid not in group.members
        if pending:
            if self._state.device_jid not in group.pending:
                group.pending.append(self._state.device_jid)
        elif self._state.device_jid not in group.members:
            self._state.seat_device(group, creator=False)
        return json_response({"success": True, "pending_approval": pending, "group_jid": group.jid})

    async def _set_ephemeral(self, call: Call) -> web.Response:
        group = self._group(call.params["jid"], admin=True)
        seconds = self._body(call).get("duration_seconds")
        if isinstance(seconds, bool) or seconds not in EPHEMERAL_DURATIONS:
            allowed = ", ".join(str(value) for value in EPHEMERAL_DURATIONS)
            raise invalid("duration_seconds", f"must be one of {allowed}", seconds)
        group.ephemeral = int(seconds)
        return json_response({"success": True, "duration_seconds": group.ephemeral})

    async def _set_picture(self, call: Call) -> web.Response:
        group = self._group(call.params["jid"], admin=True)
        encoded = self._body(call).get("image_base64")
        try:
            picture = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except (binascii.Error, ValueError):
            picture = b""
        if not picture.startswith(b"\xff\xd8\xff"):
            raise invalid("image_base64", "must be a base64 JPEG image", None)
        group.picture = picture
        self._state.pictures += 1
        return json_response({"success": True, "picture_id": str(1_718_445_600 + self._state.pictures)})

    # -- communities -----------------------------------------------------------------------------

    async def _create_community(self, call: Call) -> web.Response:
        data = self._body(call)
        name = self._name(data)
        jids = self._participants(data, allow_empty=True)
        community = self._state.new_group(name, owner=self._state.device_jid)
        self._state.seat_device(community, creator=True)
        self._state.apply(community, "add", jids)
        self._state.make_community(community)
        answer = community.to_json(with_members=True)
        answer["announcement_group_jid"] = community.announcement_group_jid
        return json_response({"success": True, "community": answer}, status=201)

    def _linkable(self, call: Call) -> tuple[FakeWutsGroup, FakeWutsGroup]:
        community = self._group(call.params["jid"], admin=True, community=True)
        child_jid = self._body(call).get(LINK_GROUP_FIELD)
        if not isinstance(child_jid, str) or not child_jid:
            raise invalid(LINK_GROUP_FIELD, "the group JID is required", child_jid)
        return community, self._group(child_jid, admin=True)

    async def _link_group(self, call: Call) -> web.Response:
        community, group = self._linkable(call)
        if group.is_community or (group.parent_jid not in (None, community.jid)):
            raise fail(409, f"{group.jid} is a community or linked to another one")
        group.parent_jid = community.jid
        return json_response({"success": True, "community_jid": community.jid, "group_jid": group.jid})

    async def _unlink_group(self, call: Call) -> web.Response:
        community, group = self._linkable(call)
        if group.parent_jid != community.jid or group.jid == community.announcement_group_jid:
            raise fail(409, f"{group.jid} is not a linked group of {community.jid}")
        group.parent_jid = None
        return json_response({"success": True, "community_jid": community.jid, "group_jid": group.jid})
