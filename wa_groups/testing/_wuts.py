"""A stateful fake of the WUTS gateway's groups and communities endpoints.

:class:`FakeWutsAPI` is a :class:`~wa_groups.testing._server.FakeServer`: it shares the routing, request log,
scripted faults, rate limiter, latency and in-flight counters of :class:`~wa_groups.testing.FakeGraphAPI`, and
adds WUTS's routes, its flat ``{"success": ...}`` answers and its error envelope. One connected device owns the
token; every call acts as that device, which may be switched off with :attr:`FakeWutsAPI.device_ready`.

Where WUTS's reference is silent (how a participant that cannot be handled is reported, the link and unlink
paths, the community object), the fake follows the readings of ``wa_groups.wuts._protocol``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

import attrs
from aiohttp import web

from wa_groups.testing._faults import Fault, RateLimit, format_seconds
from wa_groups.testing._routing import Abort, Call, Route, json_response
from wa_groups.testing._server import FakeServer
from wa_groups.wuts._protocol import EPHEMERAL_DURATIONS, LINK_GROUP_FIELD, participant_jid

if TYPE_CHECKING:
    from wa_groups.wuts.client import WutsClient

__all__ = ["DEFAULT_DEVICE_PHONE", "DEFAULT_TOKEN", "FakeMember", "FakeWutsAPI", "FakeWutsGroup", "WutsFault"]

#: The token a :class:`FakeWutsAPI` accepts unless told otherwise (WUTS tokens are UUID v4).
DEFAULT_TOKEN: Final = "3f1c2a9e-7b4d-4c8e-9a61-2d5f0e8b7c13"
#: The phone number of the fake's connected device.
DEFAULT_DEVICE_PHONE: Final = "5511900000000"

#: HTTP status -> the ``error_code`` the fake answers with it. WUTS documents VALIDATION_ERROR and
#: DEVICE_NOT_READY; the other codes are the fake's own.
STATUS_CODES: Final[Mapping[int, str]] = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    429: "RATE_LIMITED",
    503: "DEVICE_NOT_READY",
}
MEMBER_ADD_MODES: Final = frozenset({"admin", "all_members"})
ACTIONS: Final = ("add", "remove", "promote", "demote")

_JID: Final = r"(?P<jid>[^/]+)"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.define
class WutsFault(Fault):
    """A :class:`~wa_groups.testing.Fault` answered in WUTS's envelope.

    ``error_code`` defaults to the fake's code for ``status`` (``DEVICE_NOT_READY`` for 503, ``VALIDATION_ERROR``
    for 400, ``INTERNAL_ERROR`` for other 5xx...). ``validation`` items go in the envelope's ``validation`` list.
    """

    #: WUTS ``error_code`` of the answer.
    error_code: str | None = None
    #: Items of the envelope's ``validation`` list (``{"field", "message", "value"}``).
    validation: list[dict[str, Any]] | None = None


@attrs.define(kw_only=True)
class FakeMember:
    """A member of a fake group."""

    #: The member's JID (``<phone>@s.whatsapp.net`` or ``…@lid``).
    jid: str
    #: The member's phone as a user JID; ``None`` for a LID whose phone is unknown.
    phone_number: str | None
    #: Whether the member is an admin.
    is_admin: bool = False
    #: Whether the member created the group.
    is_super_admin: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the member as WUTS reports a participant."""
        return {
            "jid": self.jid,
            "phone_number": self.phone_number,
            "is_admin": self.is_admin or self.is_super_admin,
            "is_super_admin": self.is_super_admin,
        }


@attrs.define(kw_only=True)
class FakeWutsGroup:
    """The fake's state for one group or community; tests may read and change it freely."""

    #: The group JID, ``<digits>@g.us``.
    jid: str
    #: The group's name.
    name: str
    #: The group's topic (its description).
    topic: str = ""
    #: The creator's JID.
    owner: str = ""
    #: RFC 3339 creation time.
    created_at: str = attrs.field(factory=_now)
    #: Only admins may send messages.
    announce: bool = False
    #: Only admins may edit the group's info.
    locked: bool = False
    #: New members need an admin's approval.
    join_approval: bool = False
    #: Who may add members (``admin`` or ``all_members``).
    member_add_mode: str = "admin"
    #: Members by JID, the device included when it is a member.
    members: dict[str, FakeMember] = attrs.field(factory=dict)
    #: The current invite code (the link is ``https://chat.whatsapp.com/<code>``).
    invite_code: str = ""
    #: The disappearing-message timer in seconds.
    ephemeral: int = 0
    #: The last picture set, as JPEG bytes.
    picture: bytes | None = attrs.field(default=None, repr=False)
    #: True for a community (a parent group).
    is_community: bool = False
    #: The community this group is linked to.
    parent_jid: str | None = None
    #: For a community: the JID of its announcement group.
    announcement_group_jid: str | None = None
    #: Members who asked to join and wait for approval.
    pending: list[str] = attrs.field(factory=list)

    @property
    def invite_link(self) -> str:
        """Return the invite link."""
        return f"https://chat.whatsapp.com/{self.invite_code}"

    def to_json(self, *, with_members: bool) -> dict[str, Any]:
        """Return the group as WUTS describes it, with its member list or without."""
        data: dict[str, Any] = {
            "jid": self.jid,
            "name": self.name,
            "topic": self.topic,
            "owner": self.owner,
            "created_at": self.created_at,
            "is_announce": self.announce,
            "is_locked": self.locked,
            "join_approval": self.join_approval,
            "members_count": len(self.members),
        }
        if with_members:
            data["participants"] = [member.to_json() for member in self.members.values()]
        return data


class FakeWutsAPI(FakeServer):
    """A stateful fake of WUTS's groups and communities endpoints, served on 127.0.0.1.

    Use it with ``async with FakeWutsAPI() as fake:``; take a client from :meth:`client` (or point a
    :class:`~wa_groups.wuts.WutsClient` at :attr:`base_url`), seed groups with :meth:`add_group`, script
    failures with :meth:`add_fault` (a :class:`WutsFault` chooses the ``error_code``) and
    :meth:`set_rate_limit`, disconnect the device with :attr:`device_ready`, and inspect :attr:`groups`,
    :attr:`requests` and :attr:`stats`.

    Participants a call cannot handle (not members, in :attr:`unreachable`, over :attr:`max_participants`)
    are left out of its per-participant answer; a demoted super admin is reported still an admin.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        device_phone: str = DEFAULT_DEVICE_PHONE,
        latency: float = 0.0,
        max_participants: int = 1024,
        record_requests: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(latency=latency, record_requests=record_requests, seed=seed)
        #: The token requests must carry in ``Authorization`` (``Bearer`` optional, as on WUTS).
        self.token = token
        #: The JID of the connected device every call acts as.
        self.device_jid = f"{device_phone}@s.whatsapp.net"
        #: When False every route answers ``DEVICE_NOT_READY`` (the device's WhatsApp session is down).
        self.device_ready = True
        #: Members a group may have, the device included.
        self.max_participants = max_participants
        #: Participants WhatsApp refuses to add (privacy settings, not on WhatsApp): left out of add answers.
        self.unreachable: set[str] = set()
        self._groups: dict[str, FakeWutsGroup] = {}
        self._pictures = 0

    def _summary(self) -> str:
        return f"groups={len(self._groups)}"

    # -- public helpers --------------------------------------------------------------------------

    @property
    def groups(self) -> dict[str, FakeWutsGroup]:
        """Return every group and community by JID, in creation order."""
        return self._groups

    def client(self, **kwargs: Any) -> WutsClient:
        """Return a :class:`~wa_groups.wuts.WutsClient` pointed at this fake; ``kwargs`` go to the client."""
        from wa_groups.wuts.client import WutsClient

        return WutsClient(self.token, base_url=self.base_url, **kwargs)

    def add_group(
        self,
        name: str,
        *,
        participants: Iterable[str] = (),
        admins: Iterable[str] = (),
        device_member: bool = True,
        device_admin: bool = True,
        join_approval: bool = False,
        community: bool = False,
        parent_jid: str | None = None,
    ) -> str:
        """Create a group directly (no request) and return its JID.

        Args:
            name: The group's name.
            participants: Members besides the device (phones, JIDs or LIDs).
            admins: Members (from ``participants``) who are admins.
            device_member: Whether the device is a member.
            device_admin: Whether the device is its super admin (else a plain member, or absent).
            join_approval: New members need an admin's approval.
            community: Make it a community, with its announcement group.
            parent_jid: Link it to this community.

        Raises:
            ValueError: a participant is not a phone, JID or LID, or is the device; or ``parent_jid`` is not a
                community.

        """
        owner = self.device_jid if device_admin else self._member_jid("5511911111111")
        group = self._new_group(name, owner=owner, join_approval=join_approval)
        if device_member:
            self._seat_device(group, creator=device_admin)
        promoted = {self._member_jid(user) for user in admins}
        for user in participants:
            jid = self._member_jid(user)
            if jid == self.device_jid:
                raise ValueError(f"{user!r} is the device: choose its membership with device_member=")
            group.members[jid] = self._member(jid, is_admin=jid in promoted)
        if community:
            self._make_community(group)
        if parent_jid is not None:
            parent = self._groups.get(parent_jid)
            if parent is None or not parent.is_community:
                raise ValueError(f"{parent_jid!r} is not a community of this fake")
            group.parent_jid = parent_jid
        return group.jid

    # -- state helpers ---------------------------------------------------------------------------

    def _member_jid(self, user: str) -> str:
        jid = participant_jid(user)
        if jid is None:
            raise ValueError(f"{user!r} is not a phone number, user JID or LID")
        return jid

    def _member(self, jid: str, *, is_admin: bool = False) -> FakeMember:
        return FakeMember(jid=jid, phone_number=None if jid.endswith("@lid") else jid, is_admin=is_admin)

    def _seat_device(self, group: FakeWutsGroup, *, creator: bool) -> None:
        group.members[self.device_jid] = FakeMember(
            jid=self.device_jid, phone_number=self.device_jid, is_admin=creator, is_super_admin=creator
        )

    def _code(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(self._rng.choice(alphabet) for _ in range(22))

    def _new_group(self, name: str, *, owner: str, join_approval: bool = False) -> FakeWutsGroup:
        while True:
            jid = f"120363{self._rng.randrange(10**12):012d}@g.us"
            if jid not in self._groups:
                break
        group = FakeWutsGroup(jid=jid, name=name, owner=owner, join_approval=join_approval, invite_code=self._code())
        self._groups[jid] = group
        return group

    def _make_community(self, community: FakeWutsGroup) -> None:
        """Turn a group into a community and create its announcement group, as WUTS does."""
        community.is_community = True
        announcements = self._new_group(community.name, owner=community.owner)
        announcements.announce = True
        announcements.parent_jid = community.jid
        announcements.members = {jid: attrs.evolve(member) for jid, member in community.members.items()}
        community.announcement_group_jid = announcements.jid

    # -- wire format -----------------------------------------------------------------------------

    def _error(
        self,
        status: int,
        message: str,
        *,
        error_code: str | None = None,
        validation: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        """Build a WUTS error envelope."""
        code = error_code or STATUS_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "REQUEST_FAILED")
        envelope: dict[str, Any] = {"success": False, "error": message, "error_code": code, "timestamp": _now()}
        if validation:
            envelope["validation"] = validation
        return json_response(envelope, status=status, headers=headers)

    def _fail(self, status: int, message: str, **kwargs: Any) -> Abort:
        return Abort(self._error(status, message, **kwargs))

    def _invalid(self, field: str, message: str, value: Any = None) -> Abort:
        return self._fail(400, "validation failed", validation=[{"field": field, "message": message, "value": value}])

    def _answer_unknown_route(self, request: web.Request) -> web.Response:
        return self._error(404, f"route not found: {request.method} {request.path}")

    def _answer_unreadable_body(self, request: web.Request, error: Exception) -> web.Response:
        return self._error(400, f"the request body could not be read ({type(error).__name__})")

    def _answer_throttled(self, request: web.Request, limit: RateLimit, wait: float) -> web.Response:
        headers = {"Retry-After": format_seconds(wait)} if limit.retry_after_header else None
        return self._error(429, "too many requests", headers=headers)

    def _answer_fault(self, request: web.Request, fault: Fault) -> web.Response:
        headers = {"Retry-After": format_seconds(fault.retry_after)} if fault.retry_after is not None else None
        error_code = fault.error_code if isinstance(fault, WutsFault) else None
        validation = fault.validation if isinstance(fault, WutsFault) else None
        return self._error(
            fault.status,
            fault.message or "simulated failure",
            error_code=error_code,
            validation=validation,
            headers=headers,
        )

    def _authenticate(self, call: Call) -> web.Response | None:
        # WUTS reads the token from the header only; the scheme is optional and matched case-insensitively.
        header = call.request.headers.get("Authorization", "").strip()
        if not header:
            return self._error(401, "missing bearer token")
        scheme, _, rest = header.partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else header
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return json_response({"success": False, "error": "Invalid token"}, status=401)
        return None

    # -- request parsing -------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
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
            if not self.device_ready:
                raise self._fail(503, "WhatsApp session is not connected", error_code="DEVICE_NOT_READY")
            return await handler(call)

        return guarded

    def _body(self, call: Call) -> dict[str, Any]:
        body = call.body
        if body.invalid_json:
            raise self._fail(400, "malformed JSON")
        if body.json is None:
            return {}
        if not isinstance(body.json, dict):
            raise self._fail(400, "the request body must be a JSON object")
        return body.json

    def _group(self, jid: str, *, admin: bool = False, community: bool = False) -> FakeWutsGroup:
        if participant_jid(jid) is not None or not jid.endswith("@g.us"):
            raise self._invalid("jid", "invalid group JID", jid)
        group = self._groups.get(jid)
        if group is None:
            raise self._fail(404, f"group {jid} not found")
        member = group.members.get(self.device_jid)
        if member is None:
            raise self._fail(403, "the device is not a participant of this group")
        if admin and not (member.is_admin or member.is_super_admin):
            raise self._fail(403, "the device is not an admin of this group")
        if community and not group.is_community:
            raise self._invalid("jid", "not a community", jid)
        return group

    def _participants(self, data: Mapping[str, Any], *, allow_empty: bool = False) -> list[str]:
        entries = data.get("participants", [] if allow_empty else None)
        if not isinstance(entries, list) or (not entries and not allow_empty):
            raise self._invalid("participants", "a non-empty list of participants is required", entries)
        jids: list[str] = []
        for index, entry in enumerate(entries):
            jid = participant_jid(entry) if isinstance(entry, str) else None
            if jid is None:
                raise self._invalid(f"participants[{index}]", "not a phone number, JID or LID", entry)
            if jid not in jids:
                jids.append(jid)
        return jids

    def _flag(self, data: Mapping[str, Any], key: str, field: str | None = None) -> bool | None:
        value = data.get(key)
        if value is not None and not isinstance(value, bool):
            raise self._invalid(field or key, "must be a boolean", value)
        return value

    def _name(self, data: Mapping[str, Any]) -> str:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self._invalid("name", "a non-empty name is required", name)
        return name.strip()

    # -- participants ----------------------------------------------------------------------------

    def _apply(self, group: FakeWutsGroup, action: str, jids: list[str]) -> list[dict[str, Any]]:
        """Carry out a participants action; return the items of the participants handled."""
        handled: list[dict[str, Any]] = []
        for jid in jids:
            member = group.members.get(jid)
            if action == "add":
                if member is None:
                    if jid in self.unreachable or len(group.members) >= self.max_participants:
                        continue
                    member = group.members[jid] = self._member(jid)
                    if jid in group.pending:
                        group.pending.remove(jid)
            elif member is None or jid == self.device_jid:
                continue
            elif action == "remove":
                if member.is_super_admin:
                    continue
                del group.members[jid]
                member = attrs.evolve(member, is_admin=False)
            elif not member.is_super_admin:
                member.is_admin = action == "promote"
            handled.append(member.to_json())
        return handled

    async def _change_participants(self, call: Call, default: str) -> web.Response:
        group = self._group(call.params["jid"], admin=True)
        data = self._body(call)
        action = data.get("action", default)
        if action not in ACTIONS:
            raise self._invalid("action", f"must be one of {', '.join(ACTIONS)}", action)
        handled = self._apply(group, action, self._participants(data))
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
            raise self._invalid("action", "must be add or remove", action)
        jids = self._participants(data)
        handled = self._apply(community, action, jids)
        for group in self._groups.values():
            announcements = group.jid == community.announcement_group_jid
            if announcements or (action == "remove" and group.parent_jid == community.jid):
                self._apply(group, action, [item["jid"] for item in handled])
        return json_response({"success": True, "jid": community.jid, "action": action, "participants": handled})

    async def _add_community_participants(self, call: Call) -> web.Response:
        return await self._change_community(call, "add")

    async def _remove_community_participants(self, call: Call) -> web.Response:
        return await self._change_community(call, "remove")

    # -- groups ----------------------------------------------------------------------------------

    async def _list_groups(self, call: Call) -> web.Response:
        mine = [group for group in self._groups.values() if self.device_jid in group.members]
        return json_response({"success": True, "groups": [group.to_json(with_members=False) for group in mine]})

    async def _create_group(self, call: Call) -> web.Response:
        data = self._body(call)
        name = self._name(data)
        jids = self._participants(data)
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise self._invalid("options", "must be an object", options)
        flags = {key: self._flag(options, key, f"options.{key}") for key in ("announcement", "locked", "join_approval")}
        community = self._flag(options, "community", "options.community")
        parent_jid = options.get("parent_jid")
        parent = None if parent_jid is None else self._group(str(parent_jid), admin=True, community=True)
        group = self._new_group(name, owner=self.device_jid, join_approval=bool(flags["join_approval"]))
        group.announce, group.locked = bool(flags["announcement"]), bool(flags["locked"])
        self._seat_device(group, creator=True)
        self._apply(group, "add", jids)
        if community:
            self._make_community(group)
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
            raise self._invalid("body", f"at least one of {', '.join(known)} is required")
        name = None if data.get("name") is None else self._name(data)
        texts = {key: data.get(key) for key in ("topic", "description")}
        for key, value in texts.items():
            if value is not None and not isinstance(value, str):
                raise self._invalid(key, "must be a string", value)
        flags = {key: self._flag(data, key) for key in ("announcement", "locked", "join_approval")}
        mode = data.get("member_add_mode")
        if mode is not None and mode not in MEMBER_ADD_MODES:
            raise self._invalid("member_add_mode", f"must be one of {', '.join(sorted(MEMBER_ADD_MODES))}", mode)
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
        del group.members[self.device_jid]
        return json_response({"success": True})

    async def _get_invite(self, call: Call) -> web.Response:
        group = self._group(call.params["jid"], admin=True)
        return json_response({"success": True, "group_jid": group.jid, "invite_link": group.invite_link})

    async def _reset_invite(self, call: Call) -> web.Response:
        group = self._group(call.params["jid"], admin=True)
        group.invite_code = self._code()
        return json_response(
            {"success": True, "group_jid": group.jid, "invite_link": group.invite_link, "reset_at": _now()}
        )

    async def _join_group(self, call: Call) -> web.Response:
        data = self._body(call)
        link, code = data.get("link"), data.get("code")
        if isinstance(link, str) and link:
            code = link.rstrip("/").rsplit("/", 1)[-1]
            group = next((g for g in self._groups.values() if g.invite_code == code), None)
        elif isinstance(code, str) and code:
            for key in ("group_jid", "inviter_jid"):
                if not isinstance(data.get(key), str) or not data[key]:
                    raise self._invalid(key, "required with code", data.get(key))
            group = self._groups.get(data["group_jid"])
            if group is not None and group.invite_code != code:
                group = None
        else:
            raise self._invalid("link", "give a link, or a code with group_jid and inviter_jid", link)
        if group is None:
            raise self._fail(404, "invite not found or revoked")
        pending = group.join_approval and self.device_jid not in group.members
        if pending:
            if self.device_jid not in group.pending:
                group.pending.append(self.device_jid)
        elif self.device_jid not in group.members:
            self._seat_device(group, creator=False)
        return json_response({"success": True, "pending_approval": pending, "group_jid": group.jid})

    async def _set_ephemeral(self, call: Call) -> web.Response:
        group = self._group(call.params["jid"], admin=True)
        seconds = self._body(call).get("duration_seconds")
        if isinstance(seconds, bool) or seconds not in EPHEMERAL_DURATIONS:
            allowed = ", ".join(str(value) for value in EPHEMERAL_DURATIONS)
            raise self._invalid("duration_seconds", f"must be one of {allowed}", seconds)
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
            raise self._invalid("image_base64", "must be a base64 JPEG image", None)
        group.picture = picture
        self._pictures += 1
        return json_response({"success": True, "picture_id": str(1_718_445_600 + self._pictures)})

    # -- communities -----------------------------------------------------------------------------

    async def _create_community(self, call: Call) -> web.Response:
        data = self._body(call)
        name = self._name(data)
        jids = self._participants(data, allow_empty=True)
        community = self._new_group(name, owner=self.device_jid)
        self._seat_device(community, creator=True)
        self._apply(community, "add", jids)
        self._make_community(community)
        answer = community.to_json(with_members=True)
        answer["announcement_group_jid"] = community.announcement_group_jid
        return json_response({"success": True, "community": answer}, status=201)

    def _linkable(self, call: Call) -> tuple[FakeWutsGroup, FakeWutsGroup]:
        community = self._group(call.params["jid"], admin=True, community=True)
        child_jid = self._body(call).get(LINK_GROUP_FIELD)
        if not isinstance(child_jid, str) or not child_jid:
            raise self._invalid(LINK_GROUP_FIELD, "the group JID is required", child_jid)
        return community, self._group(child_jid, admin=True)

    async def _link_group(self, call: Call) -> web.Response:
        community, group = self._linkable(call)
        if group.is_community or (group.parent_jid not in (None, community.jid)):
            raise self._fail(409, f"{group.jid} is a community or linked to another one")
        group.parent_jid = community.jid
        return json_response({"success": True, "community_jid": community.jid, "group_jid": group.jid})

    async def _unlink_group(self, call: Call) -> web.Response:
        community, group = self._linkable(call)
        if group.parent_jid != community.jid or group.jid == community.announcement_group_jid:
            raise self._fail(409, f"{group.jid} is not a linked group of {community.jid}")
        group.parent_jid = None
        return json_response({"success": True, "community_jid": community.jid, "group_jid": group.jid})
