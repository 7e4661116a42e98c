"""A stateful fake of the Graph API's WhatsApp Groups endpoints.

:class:`FakeGraphAPI` serves the group, invite-link, participant, join-request and invite-template
routes on 127.0.0.1, keeps the groups in memory, answers errors in Graph's envelope and sends signed
webhooks. It is meant for testing applications built on :mod:`wa_groups` without touching Meta.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs
from aiohttp import web

from wa_groups.testing._faults import Fault, RateLimit, format_seconds
from wa_groups.testing._routing import Abort, Call, Route, json_response
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

MAX_SUBJECT_CHARS: Final = 128
MAX_DESCRIPTION_CHARS: Final = 2048
MAX_PARTICIPANTS_PER_CALL: Final = 8
MAX_PAGE_SIZE: Final = 1024
DEFAULT_PAGE_SIZE: Final = 25
MAX_PICTURE_BYTES: Final = 5 * 1024 * 1024
MIN_PICTURE_PIXELS: Final = 192
JOIN_APPROVAL_MODES: Final = frozenset({"approval_required", "auto_approve"})
GROUP_FIELDS: Final = frozenset(
    {
        "id",
        "messaging_product",
        "subject",
        "description",
        "suspended",
        "creation_timestamp",
        "participants",
        "total_participant_count",
        "join_approval_mode",
    }
)

#: Graph error code -> (HTTP status, message, title for WhatsApp codes).
ERRORS: Final[Mapping[int, tuple[int, str, str | None]]] = {
    1: (500, "An unknown error occurred", None),
    2: (500, "Service temporarily unavailable", None),
    4: (400, "Application request limit reached", None),
    17: (400, "User request limit reached", None),
    80007: (400, "Rate limit issues", None),
    100: (400, "Invalid parameter", None),
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
TRANSIENT_CODES: Final = frozenset({1, 2, 131000, 131016, 131057})

_ALPHANUMERIC_ONLY: Final = bytes.maketrans(b"+/=", b"xQk")
_PHONE_LIKE: Final = re.compile(r"\+?[\d\s().\-]*\d[\d\s().\-]*")
_NON_DIGITS: Final = re.compile(r"\D")
# JPEG start-of-frame markers (baseline, progressive, lossless...); C4, C8 and CC are other segments.
_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}

_NODE: Final = r"/(?P<version>v\d+\.\d+)/(?P<node>[^/]+)"


def _timestamp() -> int:
    return int(time.time())


@attrs.define(kw_only=True)
class FakeJoinRequest:
    """A pending request of a WhatsApp user to join a group."""

    #: The join request id the API hands out.
    id: str
    #: The WhatsApp id of the user asking to join.
    wa_id: str
    #: UNIX seconds when the request was made.
    created_at: int


@attrs.define(kw_only=True)
class FakeGroup:
    """The fake's state for one group; tests may read and change it freely."""

    #: The group id.
    id: str
    #: The business phone number id that owns the group.
    phone_number_id: str
    #: The group subject.
    subject: str
    #: The group description.
    description: str = ""
    #: ``approval_required`` or ``auto_approve``.
    join_approval_mode: str = "auto_approve"
    #: WhatsApp ids of the participants, the business excluded.
    participants: list[str] = attrs.field(factory=list)
    #: The current invite link; ``None`` after it was deleted (the next GET makes a new one).
    invite_link: str | None = None
    #: Whether WhatsApp suspended the group (writes then answer 131207).
    suspended: bool = False
    #: UNIX seconds when the group was created.
    created_at: int = 0
    #: Pending join requests by id, oldest first (a plain dict assigned here is indexed on first use).
    join_requests: IndexedDict[str, FakeJoinRequest] = attrs.field(factory=IndexedDict)
    #: The last profile picture uploaded, as JPEG bytes.
    profile_picture: bytes | None = attrs.field(default=None, repr=False)


def normalize_user(value: str) -> str:
    """Turn a phone number written any usual way into digits; leave other user ids as they are."""
    text = value.strip()
    if _PHONE_LIKE.fullmatch(text):
        return _NON_DIGITS.sub("", text)
    return text


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


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _maybe_json(value: str) -> Any:
    if value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class FakeGraphAPI(FakeServer):
    """A stateful fake of the Graph API's WhatsApp Groups endpoints, served on 127.0.0.1.

    Use it with ``async with FakeGraphAPI() as fake:``; point a client at :attr:`base_url`
    (or take one from :meth:`client`), seed state with :meth:`add_group`, :meth:`add_groups`
    and :meth:`add_join_requests`, script failures with :meth:`add_fault` and
    :meth:`set_rate_limit`, and inspect :attr:`groups`, :attr:`requests` and :attr:`stats`.
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
        #: Groups one business number may have; creating more answers 131211.
        self.max_groups = max_groups
        #: Participants a group may have, the business excluded (Meta's limit is 8).
        self.max_participants = max_participants
        #: Answer the group list as ``{"data": [...]}`` (an older shape) instead of ``{"data": {"groups": [...]}}``.
        self.legacy_list_shape = legacy_list_shape
        #: The WhatsApp Business Account id put in webhooks and usage headers.
        self.waba_id = waba_id
        self._app_secret = app_secret
        self._numbers: dict[str, str] = {}
        self._groups: IndexedDict[str, FakeGroup] = IndexedDict()
        self._issued_ids: set[str] = set()
        self._join_serial = 0
        self._wa_serial = 0
        #: How many times each join request id was approved (a state change: at most once, as on Graph).
        self.approved: collections.Counter[str] = collections.Counter()
        #: How many times each join request id was rejected (at most once).
        self.rejected: collections.Counter[str] = collections.Counter()
        #: How many times each join request id was sent in an approve or reject request, answered or not:
        #: above 1 means a client sent the id again.
        self.join_request_sends: collections.Counter[str] = collections.Counter()
        #: Invite template messages accepted by ``POST /{phone_number_id}/messages``, oldest first.
        self.messages: list[dict[str, Any]] = []
        self.add_phone_number(phone_number_id, display_phone_number)

    def _summary(self) -> str:
        return f"numbers={len(self._numbers)} groups={len(self._groups)}"

    # -- public helpers --------------------------------------------------------------------------

    @property
    def groups(self) -> IndexedDict[str, FakeGroup]:
        """Return every live group by id, in creation order."""
        return self._groups

    @property
    def phone_numbers(self) -> Mapping[str, str]:
        """Return the business phone number ids served, mapped to their display numbers."""
        return self._numbers

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
        if display_phone_number is None:
            digits = _NON_DIGITS.sub("", phone_number_id) or "0"
            display_phone_number = f"1555{int(digits) % 10_000_000:07d}"
        self._numbers[phone_number_id] = display_phone_number

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
        self._check_capacity(number, 1)
        group = self._new_group(
            number,
            subject,
            description=description,
            join_approval_mode=join_approval_mode,
            created_at=_timestamp() if created_at is None else created_at,
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
        self._check_capacity(number, n)
        now = _timestamp()
        return [self._new_group(number, f"{subject_prefix} {index}", created_at=now).id for index in range(1, n + 1)]

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
        group = self._groups[group_id]
        users = [normalize_user(user) for user in wa_ids] if wa_ids is not None else None
        if users is not None and len(users) != n:
            raise ValueError(f"wa_ids holds {len(users)} ids, expected {n}")
        now = _timestamp()
        ids: list[str] = []
        requests = _join_requests(group)
        for index in range(n):
            if users is None:
                self._wa_serial += 1
                wa_id = f"1650{self._wa_serial:07d}"
            else:
                wa_id = users[index]
            self._join_serial += 1
            request_id = _b64(f"{wa_id}:{120363000000000000 + self._join_serial}")
            requests[request_id] = FakeJoinRequest(id=request_id, wa_id=wa_id, created_at=now)
            ids.append(request_id)
            if notify:
                self._emit(
                    group.phone_number_id,
                    "group_participants_update",
                    {
                        "timestamp": str(now),
                        "group_id": group.id,
                        "type": "group_join_request_created",
                        "join_request_id": request_id,
                        "wa_id": wa_id,
                    },
                )
        return ids

    def suspend_group(self, group_id: str, suspended: bool = True) -> None:
        """Suspend a group (or lift the suspension) and send the ``group_status_update`` webhook."""
        group = self._groups[group_id]
        group.suspended = suspended
        self._emit(
            group.phone_number_id,
            "group_status_update",
            {
                "timestamp": str(_timestamp()),
                "group_id": group.id,
                "type": "group_suspend" if suspended else "group_suspend_cleared",
            },
        )

    # -- state helpers ---------------------------------------------------------------------------

    def _served_number(self, phone_number_id: str | None) -> str:
        number = self.phone_number_id if phone_number_id is None else phone_number_id
        if number not in self._numbers:
            raise ValueError(f"phone number id {number!r} is not served by this fake: call add_phone_number()")
        return number

    def _group_count(self, number: str) -> int:
        return sum(1 for group in self._groups.values() if group.phone_number_id == number)

    def _check_capacity(self, number: str, extra: int) -> None:
        if len(self._groups) + extra <= self.max_groups:
            return
        if self._group_count(number) + extra > self.max_groups:
            raise ValueError(f"phone number {number!r} would exceed max_groups={self.max_groups}")

    def _token(self, length: int) -> str:
        # base64 of random bytes with "+" and "/" mapped to letters: alphanumeric and fast to make in bulk.
        raw = base64.b64encode(self._rng.randbytes(length * 3 // 4 + 3))
        return raw.translate(_ALPHANUMERIC_ONLY)[:length].decode()

    def _request_id(self) -> str:
        return f"{self._rng.getrandbits(128):032X}"

    def _invite_link(self) -> str:
        return f"https://chat.whatsapp.com/{self._token(22)}"

    def _new_group(
        self,
        number: str,
        subject: str,
        *,
        description: str = "",
        join_approval_mode: str = "auto_approve",
        created_at: int,
    ) -> FakeGroup:
        display = self._numbers[number]
        while True:
            group_id = _b64(f"capi_group:{display}:120363{self._rng.randrange(10**12):012d}")
            if group_id not in self._issued_ids:
                break
        self._issued_ids.add(group_id)
        group = FakeGroup(
            id=group_id,
            phone_number_id=number,
            subject=subject,
            description=description,
            join_approval_mode=join_approval_mode,
            invite_link=self._invite_link(),
            created_at=created_at,
        )
        self._groups[group_id] = group
        return group

    # -- wire format -----------------------------------------------------------------------------

    def _error(
        self,
        code: int,
        details: str | None = None,
        *,
        status: int | None = None,
        subcode: int | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        """Build a Graph error response for ``code``."""
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
        error["fbtrace_id"] = self._token(11)
        all_headers = dict(headers or {})
        if http_status == 401:
            all_headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{known_message}"'
        return json_response({"error": error}, status=http_status, headers=all_headers or None)

    def _fail(self, code: int, details: str | None = None, **kwargs: Any) -> Abort:
        return Abort(self._error(code, details, **kwargs))

    def _item_error(self, code: int, details: str) -> dict[str, Any]:
        _, message, title = ERRORS[code]
        return {
            "code": code,
            "message": f"(#{code}) {message}",
            "title": title or message,
            "error_data": {"details": details},
        }

    def _answer_unknown_route(self, request: web.Request) -> web.Response:
        if any(route.pattern.fullmatch(request.path) for route in self._route_table):
            text = f"Unsupported {request.method.lower()} request."
        else:
            text = f"Unknown path components: {request.path}"
        return self._error(100, text, message=text)

    def _answer_unreadable_body(self, request: web.Request, error: Exception) -> web.Response:
        return self._error(100, f"The request body could not be read ({type(error).__name__})")

    def _answer_throttled(self, request: web.Request, limit: RateLimit, wait: float) -> web.Response:
        status = {130429: 400, 131208: 429}.get(limit.code)
        headers = None
        if limit.retry_after_header:
            headers = {"Retry-After": format_seconds(wait)}
        return self._error(limit.code, "Too many requests", status=status, headers=headers)

    def _answer_fault(self, request: web.Request, fault: Fault) -> web.Response:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = format_seconds(fault.retry_after)
        if fault.usage_minutes is not None:
            minutes = fault.usage_minutes
            usage = {
                self.waba_id: [
                    {
                        "type": "whatsapp",
                        "call_count": 100,
                        "total_cputime": 100,
                        "total_time": 100,
                        "estimated_time_to_regain_access": int(minutes) if float(minutes).is_integer() else minutes,
                    }
                ]
            }
            headers["X-Business-Use-Case-Usage"] = json.dumps(usage, separators=(",", ":"))
        return self._error(
            fault.code,
            fault.message,
            status=fault.status,
            subcode=fault.subcode,
            message=fault.message,
            headers=headers,
        )

    def _authenticate(self, call: Call) -> web.Response | None:
        request = call.request
        if "access_token" in request.query:
            return self._error(190, "Send the access token in the Authorization header, never in the URL")
        header = request.headers.get("Authorization", "").strip()
        if not header:
            return self._error(104, "An access token is required to request this resource")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.access_token.encode()):
            return self._error(190, "Invalid OAuth access token")
        return None

    # -- webhooks --------------------------------------------------------------------------------

    def _emit(self, number: str, field: str, update: dict[str, Any]) -> None:
        """Queue one webhook carrying ``update`` on ``field`` for business number ``number``."""
        if self.webhook_url is None or not self.running:
            return
        envelope = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": self.waba_id,
                    "changes": [
                        {
                            "field": field,
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": self._numbers.get(number, ""),
                                    "phone_number_id": number,
                                },
                                "groups": [update],
                            },
                        }
                    ],
                }
            ],
        }
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if self._app_secret is not None:
            digest = hmac.new(self._app_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = f"sha256={digest}"
        self._enqueue_webhook(body, headers)

    # -- request parsing -------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
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
        return [Route(method, re.compile(_NODE + suffix), handler) for method, suffix, handler in table]

    def _number(self, call: Call) -> str:
        node = call.params["node"]
        if node not in self._numbers:
            raise self._unsupported(call)
        return node

    def _unsupported(self, call: Call) -> Abort:
        node = call.params["node"]
        text = (
            f"Unsupported {call.request.method.lower()} request. Object with ID '{node}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation"
        )
        return self._fail(100, text, subcode=33, message=text)

    def _group(self, call: Call, *, write: bool) -> FakeGroup:
        node = call.params["node"]
        group = self._groups.get(node)
        if group is None:
            if node in self._numbers:
                raise self._unsupported(call)
            raise self._fail(131041, f"No group with id {node}")
        if write and group.suspended:
            raise self._fail(131207, "The group is suspended and cannot be changed")
        return group

    def _fields(self, call: Call) -> dict[str, Any]:
        body = call.body
        if body.invalid_json:
            raise self._fail(100, "The request body is not valid JSON")
        if body.json is not None:
            if not isinstance(body.json, dict):
                raise self._fail(100, "The request body must be a JSON object")
            data: dict[str, Any] = body.json
        elif body.form is not None:
            data = {name: _maybe_json(value) for name, value in body.form.items()}
        else:
            data = {}
        if data.get("messaging_product") != "whatsapp":
            raise self._fail(100, "The parameter messaging_product is required and must be 'whatsapp'")
        return data

    def _page_size(self, call: Call) -> int:
        raw = call.request.query.get("limit")
        if raw is None:
            return DEFAULT_PAGE_SIZE
        try:
            limit = int(raw)
        except ValueError:
            raise self._fail(100, "The parameter limit must be an integer") from None
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise self._fail(100, f"The parameter limit must be between 1 and {MAX_PAGE_SIZE}")
        return limit

    def _cursor_key(self, call: Call, name: str, kind: str) -> str | None:
        cursor = call.request.query.get(name)
        if cursor is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (ValueError, binascii.Error):
            raise self._fail(131059, "The cursor is not valid") from None
        prefix, separator, key = raw.partition(":")
        if separator != ":" or prefix != kind or not key:
            raise self._fail(131059, "The cursor is not valid")
        return key

    def _page(
        self, call: Call, kind: str, items: IndexedDict[str, Any], where: Any = None
    ) -> tuple[list[Any], dict[str, Any] | None]:
        limit = self._page_size(call)
        after = self._cursor_key(call, "after", kind)
        before = None if after is not None else self._cursor_key(call, "before", kind)
        try:
            found, more = items.page(limit=limit, after=after, before=before, where=where)
        except KeyError:
            raise self._fail(131059, "The cursor points at an item that no longer exists") from None
        if not found:
            return [], None
        first = _cursor(kind, found[0][0])
        last = _cursor(kind, found[-1][0])
        paging: dict[str, Any] = {"cursors": {"before": first, "after": last}}
        if more:
            paging["next"] = str(call.request.url.with_query({"limit": str(limit), "after": last}))
        return [value for _, value in found], paging

    def _users(self, data: Mapping[str, Any]) -> list[tuple[str, str]]:
        entries = data.get("participants")
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_PARTICIPANTS_PER_CALL:
            raise self._fail(
                100, f"participants must be a list of 1 to {MAX_PARTICIPANTS_PER_CALL} objects with a user"
            )
        users: list[tuple[str, str]] = []
        for entry in entries:
            user = entry.get("user") if isinstance(entry, dict) else None
            if isinstance(user, int) and not isinstance(user, bool):
                user = str(user)
            if not isinstance(user, str) or not normalize_user(user):
                raise self._fail(100, "Each participant needs a non-empty user (phone number or WhatsApp id)")
            users.append((user, normalize_user(user)))
        return users

    def _text(self, data: Mapping[str, Any], name: str, *, minimum: int, maximum: int) -> str:
        value = data.get(name)
        if not isinstance(value, str):
            raise self._fail(100, f"The parameter {name} must be a string")
        if name == "subject":
            value = value.strip()
        if not minimum <= len(value) <= maximum:
            raise self._fail(100, f"The parameter {name} must be {minimum} to {maximum} characters long")
        return value

    # -- routes: business number -----------------------------------------------------------------

    async def _create_group(self, call: Call) -> web.Response:
        number = self._number(call)
        data = self._fields(call)
        subject = self._text(data, "subject", minimum=1, maximum=MAX_SUBJECT_CHARS)
        description = ""
        if data.get("description") is not None:
            description = self._text(data, "description", minimum=0, maximum=MAX_DESCRIPTION_CHARS)
        mode = data.get("join_approval_mode", "auto_approve")
        if mode not in JOIN_APPROVAL_MODES:
            raise self._fail(100, "join_approval_mode must be approval_required or auto_approve")
        if len(self._groups) >= self.max_groups and self._group_count(number) >= self.max_groups:
            raise self._fail(131211, f"The business number already has {self.max_groups} groups")
        group = self._new_group(
            number, subject, description=description, join_approval_mode=mode, created_at=_timestamp()
        )
        request_id = self._request_id()
        self._emit(
            number,
            "group_lifecycle_update",
            {
                "timestamp": str(group.created_at),
                "group_id": group.id,
                "type": "group_create",
                "request_id": request_id,
                "subject": group.subject,
                "description": group.description,
                "invite_link": group.invite_link,
                "join_approval_mode": group.join_approval_mode,
            },
        )
        return json_response({"messaging_product": "whatsapp", "request_id": request_id})

    async def _list_groups(self, call: Call) -> web.Response:
        number = self._number(call)
        found, paging = self._page(call, "g", self._groups, lambda group: group.phone_number_id == number)
        groups = [{"id": group.id, "subject": group.subject, "created_at": str(group.created_at)} for group in found]
        payload: dict[str, Any] = {"data": groups if self.legacy_list_shape else {"groups": groups}}
        if paging is not None:
            payload["paging"] = paging
        return json_response(payload)

    async def _send_message(self, call: Call) -> web.Response:
        self._number(call)
        data = self._fields(call)
        if data.get("recipient_type", "individual") != "individual":
            raise self._fail(100, "recipient_type must be individual")
        to = data.get("to")
        if not isinstance(to, str) or not to.strip():
            raise self._fail(100, "The parameter to is required")
        if data.get("type") != "template":
            raise self._fail(100, "This fake accepts only the group invite template message (type template)")
        template = data.get("template")
        if not isinstance(template, dict):
            raise self._fail(100, "The parameter template is required")
        name = template.get("name")
        language = template.get("language")
        if not isinstance(name, str) or not name:
            raise self._fail(100, "The parameter template.name is required")
        if (
            not isinstance(language, dict)
            or not isinstance(language.get("code"), str)
            or not language["code"]
            or language.get("policy", "deterministic") != "deterministic"
        ):
            raise self._fail(100, "template.language needs a code (and policy deterministic when given)")
        group_id = _invite_group_id(template.get("components"))
        if group_id is None:
            raise self._fail(100, "The template needs a body parameter of type group_id")
        group = self._groups.get(group_id)
        if group is None:
            raise self._fail(131041, f"No group with id {group_id}")
        if group.suspended:
            raise self._fail(131207, "The group is suspended")
        wa_id = normalize_user(to)
        message_id = "wamid." + _b64(f"{wa_id}:{self._token(24)}")
        self.messages.append({"id": message_id, "to": to, "group_id": group_id, "template": template})
        return json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [{"id": message_id}],
            }
        )

    # -- routes: group ---------------------------------------------------------------------------

    async def _get_group(self, call: Call) -> web.Response:
        group = self._group(call, write=False)
        requested = [name.strip() for name in call.request.query.get("fields", "").split(",") if name.strip()]
        unknown = [name for name in requested if name not in GROUP_FIELDS]
        if unknown:
            raise self._fail(100, f"Tried accessing nonexisting field ({unknown[0]}) on node type (WhatsAppGroup)")
        info: dict[str, Any] = {"id": group.id, "messaging_product": "whatsapp"}
        for name in requested:
            if name not in info:
                info[name] = _group_field(group, name)
        return json_response(info)

    async def _update_group(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        data = self._fields(call)
        files = call.body.files or {}
        picture = files.get("file", files.get("profile_picture_file"))
        changes: dict[str, Any] = {}
        subject = description = None
        if data.get("subject") is not None:
            subject = self._text(data, "subject", minimum=1, maximum=MAX_SUBJECT_CHARS)
        if data.get("description") is not None:
            description = self._text(data, "description", minimum=0, maximum=MAX_DESCRIPTION_CHARS)
        if picture is not None:
            self._check_picture(picture)
        if subject is None and description is None and picture is None:
            raise self._fail(100, "Give at least one of subject, description or a profile picture file")
        if subject is not None:
            group.subject = subject
            changes["group_subject"] = {"text": subject, "update_successful": True}
        if description is not None:
            group.description = description
            changes["group_description"] = {"text": description, "update_successful": True}
        if picture is not None:
            group.profile_picture = picture
            changes["profile_picture"] = {
                "mime_type": "image/jpeg",
                "sha256": base64.b64encode(hashlib.sha256(picture).digest()).decode(),
                "update_successful": True,
            }
        request_id = self._request_id()
        self._emit(
            group.phone_number_id,
            "group_settings_update",
            {
                "timestamp": str(_timestamp()),
                "group_id": group.id,
                "type": "group_settings_update",
                "request_id": request_id,
                **changes,
            },
        )
        return json_response({"messaging_product": "whatsapp", "request_id": request_id})

    def _check_picture(self, picture: bytes) -> None:
        if len(picture) > MAX_PICTURE_BYTES:
            raise self._fail(100, "The profile picture is larger than 5 MB")
        if not picture.startswith(b"\xff\xd8\xff"):
            raise self._fail(100, "The profile picture must be a JPEG image")
        size = jpeg_dimensions(picture)
        if size is None:
            raise self._fail(100, "The profile picture is not a readable JPEG image")
        width, height = size
        if width != height:
            raise self._fail(131209, f"The profile picture is {width}x{height} pixels; it must be square")
        if width < MIN_PICTURE_PIXELS:
            raise self._fail(
                131210, f"The profile picture is {width}x{height} pixels; it must be at least {MIN_PICTURE_PIXELS}"
            )

    async def _delete_group(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        del self._groups[group.id]
        self._emit(
            group.phone_number_id,
            "group_lifecycle_update",
            {
                "timestamp": str(_timestamp()),
                "group_id": group.id,
                "type": "group_delete",
                "request_id": self._request_id(),
            },
        )
        return json_response({"success": True})

    async def _get_invite_link(self, call: Call) -> web.Response:
        group = self._group(call, write=False)
        if group.invite_link is None:
            group.invite_link = self._invite_link()
        return json_response({"messaging_product": "whatsapp", "invite_link": group.invite_link})

    async def _reset_invite_link(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        self._fields(call)
        group.invite_link = self._invite_link()
        return json_response({"messaging_product": "whatsapp", "invite_link": group.invite_link})

    async def _delete_invite_link(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        self._fields(call)
        group.invite_link = None
        return json_response({"messaging_product": "whatsapp", "success": "true"})

    async def _add_participants(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        users = self._users(self._fields(call))
        present = set(group.participants)
        seen: set[str] = set()
        for raw, wa_id in users:
            if wa_id in present or wa_id in seen:
                raise self._fail(131202, f"{raw} is already a participant of the group")
            seen.add(wa_id)
        if len(group.participants) + len(users) > self.max_participants:
            raise self._fail(131204, f"A group may have at most {self.max_participants} participants")
        group.participants.extend(wa_id for _, wa_id in users)
        request_id = self._request_id()
        self._emit(
            group.phone_number_id,
            "group_participants_update",
            {
                "timestamp": str(_timestamp()),
                "group_id": group.id,
                "type": "group_participants_add",
                "request_id": request_id,
                "added_participants": [{"input": raw, "wa_id": wa_id} for raw, wa_id in users],
            },
        )
        return json_response({"messaging_product": "whatsapp", "request_id": request_id})

    async def _remove_participants(self, call: Call) -> web.Response:
        group = self._group(call, write=True)
        users = self._users(self._fields(call))
        present = set(group.participants)
        for raw, wa_id in users:
            if wa_id not in present:
                raise self._fail(131212, f"{raw} is not a participant of the group")
        gone = {wa_id for _, wa_id in users}
        group.participants = [wa_id for wa_id in group.participants if wa_id not in gone]
        request_id = self._request_id()
        self._emit(
            group.phone_number_id,
            "group_participants_update",
            {
                "timestamp": str(_timestamp()),
                "group_id": group.id,
                "type": "group_participants_remove",
                "request_id": request_id,
                "removed_participants": [{"input": raw} for raw, _ in users],
                "failed_participants": [],
                "initiated_by": "business",
            },
        )
        return json_response({"messaging_product": "whatsapp", "request_id": request_id})

    async def _list_join_requests(self, call: Call) -> web.Response:
        group = self._group(call, write=False)
        found, paging = self._page(call, "j", _join_requests(group))
        data = [
            {"join_request_id": request.id, "wa_id": request.wa_id, "creation_timestamp": request.created_at}
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
        data = self._fields(call)
        ids = data.get("join_requests")
        if not isinstance(ids, list) or not ids:
            raise self._fail(100, "join_requests must be a non-empty list of join request ids")
        self.join_request_sends.update(i for i in ids if isinstance(i, str))
        pending = _join_requests(group)
        participants = group.participants
        members = set(participants)
        counter = self.approved if approve else self.rejected
        done: list[str] = []
        failed: list[dict[str, Any]] = []
        added: list[dict[str, str]] = []
        for request_id in ids:
            request = pending.get(request_id) if isinstance(request_id, str) else None
            if request is None:
                failed.append(
                    {
                        "join_request_id": request_id,
                        "errors": [self._item_error(131213, f"No pending join request {request_id}")],
                    }
                )
                continue
            if approve and request.wa_id not in members:
                if len(participants) >= self.max_participants:
                    failed.append(
                        {
                            "join_request_id": request_id,
                            "errors": [
                                self._item_error(
                                    131204, f"A group may have at most {self.max_participants} participants"
                                )
                            ],
                        }
                    )
                    continue
                participants.append(request.wa_id)
                members.add(request.wa_id)
                added.append({"wa_id": request.wa_id})
            del pending[request_id]
            counter[request_id] += 1
            done.append(request_id)
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            ("approved_join_requests" if approve else "rejected_join_requests"): done,
        }
        if failed:
            payload["failed_join_requests"] = failed
        if added:
            self._emit(
                group.phone_number_id,
                "group_participants_update",
                {
                    "timestamp": str(_timestamp()),
                    "group_id": group.id,
                    "type": "group_participants_add",
                    "reason": "invite_link",
                    "added_participants": added,
                },
            )
        return json_response(payload)


def _join_requests(group: FakeGroup) -> IndexedDict[str, FakeJoinRequest]:
    # Tests may assign a plain dict; paging needs the position index, so wrap it once.
    requests: Mapping[str, FakeJoinRequest] = group.join_requests
    if not isinstance(requests, IndexedDict):
        group.join_requests = IndexedDict(requests)
    return group.join_requests


def _group_field(group: FakeGroup, name: str) -> Any:
    if name == "subject":
        return group.subject
    if name == "description":
        return group.description
    if name == "suspended":
        return group.suspended
    if name == "creation_timestamp":
        return group.created_at
    if name == "participants":
        return [{"wa_id": wa_id} for wa_id in group.participants]
    if name == "total_participant_count":
        return len(group.participants)
    if name == "join_approval_mode":
        return group.join_approval_mode
    raise KeyError(name)


def _cursor(kind: str, key: str) -> str:
    # Graph cursors are opaque base64 strings, padding included.
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def _invite_group_id(components: Any) -> str | None:
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
