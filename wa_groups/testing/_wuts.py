"""A stateful fake of the WUTS gateway's groups and communities endpoints.

:class:`FakeWutsAPI` is a :class:`~wa_groups.testing._server.FakeServer`: it shares the routing, request log,
scripted faults, rate limiter, latency and in-flight counters of :class:`~wa_groups.testing.FakeGraphAPI`, and
adds WUTS's routes, its flat ``{"success": ...}`` answers and its error envelope. One connected device owns the
token; every call acts as that device, which may be switched off with :attr:`FakeWutsAPI.device_ready`.

Where WUTS's reference is silent (how a participant that cannot be handled is reported, the link and unlink
paths, the community object), the fake follows the readings of ``wa_groups.wuts._protocol``.

The state and rules live in :mod:`~wa_groups.testing._wuts_state`, the handlers in
:mod:`~wa_groups.testing._wuts_routes` and the error envelope in :mod:`~wa_groups.testing._wuts_wire`.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from wa_groups.testing._faults import Fault, RateLimit, format_seconds
from wa_groups.testing._routing import Call, Route, json_response
from wa_groups.testing._server import FakeServer
from wa_groups.testing._wuts_routes import WutsRoutes
from wa_groups.testing._wuts_state import FakeMember, FakeWutsGroup, WutsState
from wa_groups.testing._wuts_wire import WutsFault, error_response

if TYPE_CHECKING:
    from wa_groups.wuts.client import WutsClient

__all__ = ["DEFAULT_DEVICE_PHONE", "DEFAULT_TOKEN", "FakeMember", "FakeWutsAPI", "FakeWutsGroup", "WutsFault"]

#: The token a :class:`FakeWutsAPI` accepts unless told otherwise (WUTS tokens are UUID v4).
DEFAULT_TOKEN: Final = "3f1c2a9e-7b4d-4c8e-9a61-2d5f0e8b7c13"
#: The phone number of the fake's connected device.
DEFAULT_DEVICE_PHONE: Final = "5511900000000"


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
        self._state = WutsState(
            self._rng, device_jid=f"{device_phone}@s.whatsapp.net", max_participants=max_participants
        )
        self._handlers = WutsRoutes(self._state)

    def _summary(self) -> str:
        return f"groups={len(self._state.groups)}"

    # -- state and settings ----------------------------------------------------------------------

    @property
    def groups(self) -> dict[str, FakeWutsGroup]:
        """Return every group and community by JID, in creation order."""
        return self._state.groups

    @property
    def device_jid(self) -> str:
        """The JID of the connected device every call acts as."""
        return self._state.device_jid

    @property
    def device_ready(self) -> bool:
        """When False every route answers ``DEVICE_NOT_READY`` (the device's WhatsApp session is down)."""
        return self._state.device_ready

    @device_ready.setter
    def device_ready(self, value: bool) -> None:
        self._state.device_ready = value

    @property
    def max_participants(self) -> int:
        """Members a group may have, the device included."""
        return self._state.max_participants

    @max_participants.setter
    def max_participants(self, value: int) -> None:
        self._state.max_participants = value

    @property
    def unreachable(self) -> set[str]:
        """Participants WhatsApp refuses to add (privacy settings, not on WhatsApp): left out of add answers."""
        return self._state.unreachable

    @unreachable.setter
    def unreachable(self, value: set[str]) -> None:
        self._state.unreachable = value

    # -- public helpers --------------------------------------------------------------------------

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
        state = self._state
        owner = state.device_jid if device_admin else state.member_jid("5511911111111")
        group = state.new_group(name, owner=owner, join_approval=join_approval)
        if device_member:
            state.seat_device(group, creator=device_admin)
        promoted = {state.member_jid(user) for user in admins}
        for user in participants:
            jid = state.member_jid(user)
            if jid == state.device_jid:
                raise ValueError(f"{user!r} is the device: choose its membership with device_member=")
            group.members[jid] = state.member(jid, is_admin=jid in promoted)
        if community:
            state.make_community(group)
        if parent_jid is not None:
            parent = state.groups.get(parent_jid)
            if parent is None or not parent.is_community:
                raise ValueError(f"{parent_jid!r} is not a community of this fake")
            group.parent_jid = parent_jid
        return group.jid

    # -- the FakeServer hooks, in WUTS's wire format ---------------------------------------------

    def _routes(self) -> list[Route]:
        return self._handlers.table()

    def _answer_unknown_route(self, request: web.Request) -> web.Response:
        return error_response(404, f"route not found: {request.method} {request.path}")

    def _answer_unreadable_body(self, request: web.Request, error: Exception) -> web.Response:
        return error_response(400, f"the request body could not be read ({type(error).__name__})")

    def _answer_throttled(self, request: web.Request, limit: RateLimit, wait: float) -> web.Response:
        headers = {"Retry-After": format_seconds(wait)} if limit.retry_after_header else None
        return error_response(429, "too many requests", headers=headers)

    def _answer_fault(self, request: web.Request, fault: Fault) -> web.Response:
        headers = {"Retry-After": format_seconds(fault.retry_after)} if fault.retry_after is not None else None
        error_code = fault.error_code if isinstance(fault, WutsFault) else None
        validation = fault.validation if isinstance(fault, WutsFault) else None
        return error_response(
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
            return error_response(401, "missing bearer token")
        scheme, _, rest = header.partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else header
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return json_response({"success": False, "error": "Invalid token"}, status=401)
        return None
