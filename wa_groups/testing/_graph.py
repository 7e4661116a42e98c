"""A stateful fake of the Graph API's WhatsApp Groups endpoints.

:class:`FakeGraphAPI` serves the group, invite-link, participant, join-request, invite-template and
group-message (send, pin, unpin) routes on 127.0.0.1, keeps the groups in memory, answers errors in
Graph's envelope and sends signed webhooks. It is meant for testing applications built on
:mod:`wa_groups` without touching Meta.

It puts together the generic :class:`~wa_groups.testing._server.FakeServer`, the state and rules of
:mod:`~wa_groups.testing._graph_state`, the handlers of :mod:`~wa_groups.testing._graph_routes`, the wire
formats of :mod:`~wa_groups.testing._graph_wire`, and the group messaging half
(:mod:`~wa_groups.testing._graph_messages_state`, :mod:`~wa_groups.testing._graph_messages_routes`).
"""

from __future__ import annotations

import collections
import hmac
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from wa_groups.testing._faults import Fault, RateLimit, format_seconds
from wa_groups.testing._graph_messages_routes import GroupMessaging, GroupMessagingMethods
from wa_groups.testing._graph_routes import GraphRoutes
from wa_groups.testing._graph_state import FakeGroup, FakeJoinRequest, GraphState, normalize_user, timestamp
from wa_groups.testing._graph_wire import usage_header, webhook_delivery
from wa_groups.testing._routing import Call, Route
from wa_groups.testing._server import FakeServer
from wa_groups.testing._store import IndexedDict

if TYPE_CHECKING:
    from wa_groups.client import GroupsClient

__all__ = ["DEFAULT_ACCESS_TOKEN", "DEFAULT_PHONE_NUMBER_ID", "FakeGraphAPI", "FakeGroup", "FakeJoinRequest"]

#: The access token a :class:`FakeGraphAPI` accepts unless told otherwise.
DEFAULT_ACCESS_TOKEN: Final = "wa-groups-fake-access-token"
#: The business phone number id a :class:`FakeGraphAPI` serves unless told otherwise.
DEFAULT_PHONE_NUMBER_ID: Final = "106540352242922"
DEFAULT_WABA_ID: Final = "102290129340398"


class FakeGraphAPI(GroupMessagingMethods, FakeServer):
    """A stateful fake of the Graph API's WhatsApp Groups endpoints, served on 127.0.0.1.

    Use it with ``async with FakeGraphAPI() as fake:``; point a client at :attr:`base_url`
    (or take one from :meth:`client`), seed state with :meth:`add_group`, :meth:`add_groups`
    and :meth:`add_join_requests`, script failures with :meth:`add_fault` and
    :meth:`set_rate_limit`, and inspect :attr:`groups`, :attr:`requests` and :attr:`stats`. Messages sent to
    groups are in :attr:`group_messages`; :meth:`participant_writes` and :meth:`mark_read` make participants act.
    """

    def __init__(
        self,
        *,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
        api_version: str = "v23.0",
        latency: float = 0.0,
        max_groups: int = 10_000,
        max_participants: int = 8,
        webhook_url: str | None = None,
        app_secret: str | None = None,
        webhook_delay: float = 0.0,
        record_requests: bool = True,
        legacy_list_shape: bool = False,
        seed: int = 0,
        waba_id: str = DEFAULT_WABA_ID,
        display_phone_number: str | None = None,
        identities: str = "phone",
    ) -> None:
        super().__init__(
            latency=latency,
            record_requests=record_requests,
            seed=seed,
            webhook_url=webhook_url,
            webhook_delay=webhook_delay,
        )
        #: The token requests must carry as ``Authorization: Bearer <token>``.
        self.access_token = access_token
        #: The default business phone number id.
        self.phone_number_id = phone_number_id
        #: The API version a client should put in front of every path (any ``vN.M`` is accepted).
        self.api_version = api_version
        #: The WhatsApp Business Account id put in webhooks and usage headers.
        self.waba_id = waba_id
        self._app_secret = app_secret
        self._state = GraphState(self._rng, max_groups=max_groups, max_participants=max_participants)
        self._messaging = GroupMessaging(self._state, self._emit_value)
        self._handlers = GraphRoutes(
            self._state, self._emit, self._messaging.answer_send, legacy_list_shape=legacy_list_shape
        )
        self._state.add_phone_number(phone_number_id, display_phone_number)
        self.identities = identities

    def _summary(self) -> str:
        return f"numbers={len(self._state.numbers)} groups={len(self._state.groups)}"

    # -- state and settings ----------------------------------------------------------------------

    @property
    def groups(self) -> IndexedDict[str, FakeGroup]:
        """Return every live group by id, in creation order."""
        return self._state.groups

    @property
    def phone_numbers(self) -> Mapping[str, str]:
        """Return the business phone number ids served, mapped to their display numbers."""
        return self._state.numbers

    @property
    def max_groups(self) -> int:
        """Groups one business number may have; creating more answers 131211."""
        return self._state.max_groups

    @max_groups.setter
    def max_groups(self, value: int) -> None:
        self._state.max_groups = value

    @property
    def max_participants(self) -> int:
        """Participants a group may have, the business excluded (Meta's limit is 8)."""
        return self._state.max_participants

    @max_participants.setter
    def max_participants(self, value: int) -> None:
        self._state.max_participants = value

    @property
    def legacy_list_shape(self) -> bool:
        """Answer the group list as ``{"data": [...]}`` (an older shape) instead of ``{"data": {"groups": [...]}}``."""
        return self._handlers.legacy_list_shape

    @legacy_list_shape.setter
    def legacy_list_shape(self, value: bool) -> None:
        self._handlers.legacy_list_shape = value

    @property
    def approved(self) -> collections.Counter[str]:
        """How many times each join request id was approved (a state change: at most once, as on Graph)."""
        return self._state.approved

    @property
    def rejected(self) -> collections.Counter[str]:
        """How many times each join request id was rejected (at most once)."""
        return self._state.rejected

    @property
    def join_request_sends(self) -> collections.Counter[str]:
        """How many times each join request id was sent in an approve or reject request, answered or not.

        Above 1 means a client sent the id again.
        """
        return self._state.join_request_sends

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Invite template messages (one-to-one) accepted by ``POST /{phone_number_id}/messages``, oldest first."""
        return self._state.messages

    # -- public helpers --------------------------------------------------------------------------

    def client(self, **kwargs: Any) -> GroupsClient:
        """Return a :class:`wa_groups.GroupsClient` pointed at this fake; ``kwargs`` go to the client."""
        from wa_groups.client import GroupsClient

        return GroupsClient(
            self.access_token,
            phone_number_id=self.phone_number_id,
            base_url=self.base_url,
            api_version=self.api_version,
            **kwargs,
        )

    def add_phone_number(self, phone_number_id: str, display_phone_number: str | None = None) -> None:
        """Serve another business phone number id (its display number is made up when not given)."""
        self._state.add_phone_number(phone_number_id, display_phone_number)

    def add_group(
        self,
        subject: str,
        *,
        description: str = "",
        join_approval_mode: str = "auto_approve",
        participants: Iterable[str] | None = None,
        phone_number_id: str | None = None,
        suspended: bool = False,
        created_at: int | None = None,
    ) -> str:
        """Create a group directly (no request, no webhook) and return its id.

        Raises:
            ValueError: the phone number is not served, or it already has ``max_groups`` groups.

        """
        number = self._served_number(phone_number_id)
        self._state.check_capacity(number, 1)
        group = self._state.new_group(
            number,
            subject,
            description=description,
            join_approval_mode=join_approval_mode,
            created_at=timestamp() if created_at is None else created_at,
        )
        group.participants = [normalize_user(user) for user in participants or ()]
        group.suspended = suspended
        return group.id

    def add_groups(self, n: int, subject_prefix: str = "Group", *, phone_number_id: str | None = None) -> list[str]:
        """Create ``n`` empty groups named ``"<subject_prefix> 1"`` and so on; return their ids.

        Raises:
            ValueError: the phone number is not served, or ``n`` more groups would exceed ``max_groups``.

        """
        number = self._served_number(phone_number_id)
        self._state.check_capacity(number, n)
        now = timestamp()
        new_group = self._state.new_group
        return [new_group(number, f"{subject_prefix} {index}", created_at=now).id for index in range(1, n + 1)]

    def add_join_requests(
        self, group_id: str, n: int, wa_ids: Iterable[str] | None = None, *, notify: bool = False
    ) -> list[str]:
        """Add ``n`` pending join requests to a group and return their ids, oldest first.

        Args:
            group_id: An existing group.
            n: How many requests to add.
            wa_ids: The users asking to join (``n`` of them); made up when not given.
            notify: Also send a ``group_join_request_created`` webhook for each request.

        Raises:
            KeyError: the group does not exist.
            ValueError: ``wa_ids`` does not hold ``n`` ids.

        """
        group = self._state.groups[group_id]
        users = [normalize_user(user) for user in wa_ids] if wa_ids is not None else None
        if users is not None and len(users) != n:
            raise ValueError(f"wa_ids holds {len(users)} ids, expected {n}")
        now = timestamp()
        added = self._state.add_join_requests(group, n, users, now)
        if notify:
            for request in added:
                update = {
                    "timestamp": str(now),
                    "group_id": group.id,
                    "type": "group_join_request_created",
                    "join_request_id": request.id,
                    **self._state.names.of(request.wa_id),
                }
                self._emit(group.phone_number_id, "group_participants_update", update)
        return [request.id for request in added]

    def suspend_group(self, group_id: str, suspended: bool = True) -> None:
        """Suspend a group (or lift the suspension) and send the ``group_status_update`` webhook."""
        group = self._state.groups[group_id]
        group.suspended = suspended
        update = {
            "timestamp": str(timestamp()),
            "group_id": group.id,
            "type": "group_suspend" if suspended else "group_suspend_cleared",
        }
        self._emit(group.phone_number_id, "group_status_update", update)

    def _served_number(self, phone_number_id: str | None) -> str:
        return self._state.served_number(self.phone_number_id if phone_number_id is None else phone_number_id)

    # -- the FakeServer hooks, in Graph's wire format --------------------------------------------

    def _routes(self) -> list[Route]:
        return self._handlers.table()

    def _answer_unknown_route(self, request: web.Request) -> web.Response:
        if any(route.pattern.fullmatch(request.path) for route in self._route_table):
            text = f"Unsupported {request.method.lower()} request."
        else:
            text = f"Unknown path components: {request.path}"
        return self._handlers.error(100, text, message=text)

    def _answer_unreadable_body(self, request: web.Request, error: Exception) -> web.Response:
        return self._handlers.error(100, f"The request body could not be read ({type(error).__name__})")

    def _answer_throttled(self, request: web.Request, limit: RateLimit, wait: float) -> web.Response:
        status = {130429: 400, 131208: 429}.get(limit.code)
        headers = None
        if limit.retry_after_header:
            headers = {"Retry-After": format_seconds(wait)}
        return self._handlers.error(limit.code, "Too many requests", status=status, headers=headers)

    def _answer_fault(self, request: web.Request, fault: Fault) -> web.Response:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = format_seconds(fault.retry_after)
        if fault.usage_minutes is not None:
            headers["X-Business-Use-Case-Usage"] = usage_header(self.waba_id, fault.usage_minutes)
        return self._handlers.error(
            fault.code,
            fault.message,
            status=fault.status,
            subcode=fault.subcode,
            message=fault.message,
            headers=headers,
        )

    def _authenticate(self, call: Call) -> web.Response | None:
        request = call.request
        error = self._handlers.error
        if "access_token" in request.query:
            return error(190, "Send the access token in the Authorization header, never in the URL")
        header = request.headers.get("Authorization", "").strip()
        if not header:
            return error(104, "An access token is required to request this resource")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.access_token.encode()):
            return error(190, "Invalid OAuth access token")
        return None

    def _emit_value(self, number: str, value: dict[str, Any]) -> None:
        """Queue one ``messages`` webhook whose change value carries ``value`` (statuses, messages, contacts)."""
        if self.webhook_url is None or not self.running:
            return
        body, headers = webhook_delivery(
            waba_id=self.waba_id,
            phone_number_id=number,
            display_phone_number=self._state.numbers.get(number, ""),
            field="messages",
            update=None,
            value=value,
            app_secret=self._app_secret,
        )
        self._enqueue_webhook(body, headers)

    def _emit(self, number: str, field: str, update: dict[str, Any]) -> None:
        """Queue one webhook carrying ``update`` on ``field`` for business number ``number``."""
        if self.webhook_url is None or not self.running:
            return
        body, headers = webhook_delivery(
            waba_id=self.waba_id,
            phone_number_id=number,
            display_phone_number=self._state.numbers.get(number, ""),
            field=field,
            update=update,
            app_secret=self._app_secret,
        )
        self._enqueue_webhook(body, headers)
