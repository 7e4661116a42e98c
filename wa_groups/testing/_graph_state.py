"""The fake Graph API's world: business numbers, groups, join requests, and the rules Graph applies to them.

Nothing here speaks HTTP. A rule that refuses an operation raises :class:`Refusal` with the Graph error code,
and the routes turn it into Graph's error envelope. The limits are the fake's own copy of Meta's, kept apart
from the client's tables on purpose. Group messages have their own rules in ``_graph_messages_state``.
"""

from __future__ import annotations

import base64
import collections
import random
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from wa_groups.testing._graph_identity import Identities, bsuid_for
from wa_groups.testing._store import IndexedDict, MemberList

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "GROUP_FIELDS",
    "JOIN_APPROVAL_MODES",
    "MAX_DESCRIPTION_CHARS",
    "MAX_PAGE_SIZE",
    "MAX_PARTICIPANTS_PER_CALL",
    "MAX_SUBJECT_CHARS",
    "FakeGroup",
    "FakeJoinRequest",
    "GraphState",
    "Refusal",
    "Settlement",
    "b64",
    "join_requests",
    "normalize_user",
    "timestamp",
]

MAX_SUBJECT_CHARS: Final = 128
MAX_DESCRIPTION_CHARS: Final = 2048
MAX_PARTICIPANTS_PER_CALL: Final = 8
MAX_PAGE_SIZE: Final = 1024
DEFAULT_PAGE_SIZE: Final = 25
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

_ALPHANUMERIC_ONLY: Final = bytes.maketrans(b"+/=", b"xQk")
_PHONE_LIKE: Final = re.compile(r"\+?[\d\s().\-]*\d[\d\s().\-]*")
_NON_DIGITS: Final = re.compile(r"\D")


def timestamp() -> int:
    """Return the current time in UNIX seconds, as Graph stamps its objects."""
    return int(time.time())


def b64(text: str) -> str:
    """Return ``text`` in unpadded URL-safe base64, the look of Graph's opaque ids."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


class Refusal(Exception):
    """A Graph rule refused an operation: the error code to answer and the details to give."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(code, details)
        #: The Graph error code.
        self.code = code
        #: The ``error_data.details`` text.
        self.details = details


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
    #: WhatsApp ids of the participants, the business excluded. A list assigned here is kept as a
    #: :class:`~wa_groups.testing._store.MemberList`, which answers ``in`` without a scan of the group.
    participants: list[str] = attrs.field(factory=MemberList, converter=MemberList)
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
    #: Message ids sent to the group by the business, oldest first.
    message_ids: list[str] = attrs.field(factory=list, repr=False)
    #: Pinned message ids, oldest pin first (at most 3).
    pinned: list[str] = attrs.field(factory=list)


@attrs.define(frozen=True)
class Settlement:
    """The outcome of approving or rejecting a batch of join requests."""

    #: The ids approved or rejected, in the order sent.
    done: list[str]
    #: The ids that failed, each with its Graph error code and details.
    failed: list[tuple[Any, int, str]]
    #: WhatsApp ids that became participants.
    added: list[str]


def normalize_user(value: str) -> str:
    """Turn a phone number written any usual way into digits; leave other user ids as they are."""
    text = value.strip()
    if _PHONE_LIKE.fullmatch(text):
        return _NON_DIGITS.sub("", text)
    return text


def join_requests(group: FakeGroup) -> IndexedDict[str, FakeJoinRequest]:
    """Return a group's pending join requests as an :class:`IndexedDict` (paging needs its position index)."""
    # Tests may assign a plain dict; wrap it once.
    requests: Mapping[str, FakeJoinRequest] = group.join_requests
    if not isinstance(requests, IndexedDict):
        group.join_requests = IndexedDict(requests)
    return group.join_requests


class GraphState:
    """Every business number, group and join request of one fake, and the ids it hands out.

    ``rng`` is the fake's seeded random source, shared with its fault scripting so that one seed
    replays a whole test.
    """

    def __init__(self, rng: random.Random, *, max_groups: int, max_participants: int) -> None:
        self._rng = rng
        #: Groups one business number may have; creating more answers 131211.
        self.max_groups = max_groups
        #: Participants a group may have, the business excluded.
        self.max_participants = max_participants
        #: Business phone number ids served, mapped to their display numbers.
        self.numbers: dict[str, str] = {}
        #: Every live group by id, in creation order.
        self.groups: IndexedDict[str, FakeGroup] = IndexedDict()
        #: How many times each join request id was approved.
        self.approved: collections.Counter[str] = collections.Counter()
        #: How many times each join request id was rejected.
        self.rejected: collections.Counter[str] = collections.Counter()
        #: How many times each join request id was sent in an approve or reject request.
        self.join_request_sends: collections.Counter[str] = collections.Counter()
        #: Invite template messages accepted, oldest first.
        self.messages: list[dict[str, Any]] = []
        #: How users are named in answers and webhooks.
        self.names = Identities()
        self._issued_ids: set[str] = set()
        self._join_serial = 0
        self._wa_serial = 0

    @property
    def rng(self) -> random.Random:
        """Return the fake's seeded random source."""
        return self._rng

    # -- ids -------------------------------------------------------------------------------------

    def token(self, length: int) -> str:
        """Return ``length`` random alphanumeric characters."""
        # base64 of random bytes with "+" and "/" mapped to letters: alphanumeric and fast to make in bulk.
        raw = base64.b64encode(self._rng.randbytes(length * 3 // 4 + 3))
        return raw.translate(_ALPHANUMERIC_ONLY)[:length].decode()

    def request_id(self) -> str:
        """Return a new ``request_id`` as Graph answers it for asynchronous operations."""
        return f"{self._rng.getrandbits(128):032X}"

    def invite_link(self) -> str:
        """Return a new invite link."""
        return f"https://chat.whatsapp.com/{self.token(22)}"

    # -- numbers and groups ----------------------------------------------------------------------

    def add_phone_number(self, phone_number_id: str, display_phone_number: str | None = None) -> None:
        """Serve a business phone number id (its display number is made up when not given)."""
        if display_phone_number is None:
            digits = _NON_DIGITS.sub("", phone_number_id) or "0"
            display_phone_number = f"1555{int(digits) % 10_000_000:07d}"
        self.numbers[phone_number_id] = display_phone_number

    def served_number(self, number: str) -> str:
        """Return ``number`` when it is served, else raise :class:`ValueError`."""
        if number not in self.numbers:
            raise ValueError(f"phone number id {number!r} is not served by this fake: call add_phone_number()")
        return number

    def group_count(self, number: str) -> int:
        """Return how many groups a business number has."""
        return sum(1 for group in self.groups.values() if group.phone_number_id == number)

    def check_capacity(self, number: str, extra: int) -> None:
        """Raise :class:`ValueError` when ``extra`` more groups would put ``number`` over ``max_groups``."""
        if len(self.groups) + extra <= self.max_groups:
            return
        if self.group_count(number) + extra > self.max_groups:
            raise ValueError(f"phone number {number!r} would exceed max_groups={self.max_groups}")

    def new_group(
        self,
        number: str,
        subject: str,
        *,
        description: str = "",
        join_approval_mode: str = "auto_approve",
        created_at: int,
    ) -> FakeGroup:
        """Create a group with a fresh id and invite link; no rule is checked."""
        display = self.numbers[number]
        while True:
            group_id = b64(f"capi_group:{display}:120363{self._rng.randrange(10**12):012d}")
            if group_id not in self._issued_ids:
                break
        self._issued_ids.add(group_id)
        group = FakeGroup(
            id=group_id,
            phone_number_id=number,
            subject=subject,
            description=description,
            join_approval_mode=join_approval_mode,
            invite_link=self.invite_link(),
            created_at=created_at,
        )
        self.groups[group_id] = group
        return group

    def create_group(self, number: str, subject: str, *, description: str, join_approval_mode: str) -> FakeGroup:
        """Create a group as ``POST /groups`` does, refusing one over ``max_groups`` (131211)."""
        if len(self.groups) >= self.max_groups and self.group_count(number) >= self.max_groups:
            raise Refusal(131211, f"The business number already has {self.max_groups} groups")
        return self.new_group(
            number, subject, description=description, join_approval_mode=join_approval_mode, created_at=timestamp()
        )

    def add_join_requests(self, group: FakeGroup, n: int, users: list[str] | None, now: int) -> list[FakeJoinRequest]:
        """Add ``n`` pending join requests from ``users`` (made up when ``None``) and return them."""
        requests = join_requests(group)
        added: list[FakeJoinRequest] = []
        for index in range(n):
            if users is None:
                self._wa_serial += 1
                wa_id = f"1650{self._wa_serial:07d}"
            else:
                wa_id = users[index]
            self._join_serial += 1
            request_id = b64(f"{wa_id}:{120363000000000000 + self._join_serial}")
            request = requests[request_id] = FakeJoinRequest(id=request_id, wa_id=wa_id, created_at=now)
            added.append(request)
        return added

    # -- rules -----------------------------------------------------------------------------------

    def add_participants(self, group: FakeGroup, users: Iterable[tuple[str, str]]) -> None:
        """Add ``(as sent, WhatsApp id)`` users, refusing one already in (131202) or a full group (131204)."""
        users = list(users)
        present = group.participants
        seen: set[str] = set()
        for raw, wa_id in users:
            if wa_id in present or wa_id in seen:
                raise Refusal(131202, f"{raw} is already a participant of the group")
            seen.add(wa_id)
        if len(group.participants) + len(users) > self.max_participants:
            raise Refusal(131204, f"A group may have at most {self.max_participants} participants")
        group.participants.extend(wa_id for _, wa_id in users)

    def remove_participants(self, group: FakeGroup, users: Iterable[tuple[str, str]]) -> None:
        """Remove ``(as sent, WhatsApp id)`` users, refusing one who is not a participant (131212).

        A participant may be named by the BSUID the fake gives them.
        """
        present = group.participants
        users = list(users)
        if any(wa_id not in present for _, wa_id in users):
            by_bsuid = {bsuid_for(member): member for member in present}
            users = [(raw, by_bsuid.get(wa_id, wa_id)) for raw, wa_id in users]
        for raw, wa_id in users:
            if wa_id not in present:
                raise Refusal(131212, f"{raw} is not a participant of the group")
        gone = {wa_id for _, wa_id in users}
        group.participants = [wa_id for wa_id in group.participants if wa_id not in gone]

    def settle_join_requests(self, group: FakeGroup, ids: list[Any], *, approve: bool) -> Settlement:
        """Approve or reject join requests one by one; an approval adds the user unless the group is full."""
        self.join_request_sends.update(i for i in ids if isinstance(i, str))
        pending = join_requests(group)
        participants = group.participants  # a MemberList: ``in`` costs no scan of the group
        counter = self.approved if approve else self.rejected
        done: list[str] = []
        failed: list[tuple[Any, int, str]] = []
        added: list[str] = []
        for request_id in ids:
            request = pending.get(request_id) if isinstance(request_id, str) else None
            if request is None:
                failed.append((request_id, 131213, f"No pending join request {request_id}"))
                continue
            if approve and request.wa_id not in participants:
                if len(participants) >= self.max_participants:
                    failed.append(
                        (request_id, 131204, f"A group may have at most {self.max_participants} participants")
                    )
                    continue
                participants.append(request.wa_id)
                added.append(request.wa_id)
            del pending[request_id]
            counter[request_id] += 1
            done.append(request_id)
        return Settlement(done=done, failed=failed, added=added)

    def send_invite(self, to: str, group_id: str, template: dict[str, Any]) -> tuple[str, str]:
        """Record an invite template message to a live group; return the message id and the user's WhatsApp id."""
        group = self.groups.get(group_id)
        if group is None:
            raise Refusal(131041, f"No group with id {group_id}")
        if group.suspended:
            raise Refusal(131207, "The group is suspended")
        wa_id = normalize_user(to)
        message_id = "wamid." + b64(f"{wa_id}:{self.token(24)}")
        self.messages.append({"id": message_id, "to": to, "group_id": group_id, "template": template})
        return message_id, wa_id
