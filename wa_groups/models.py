"""Typed data returned by :class:`~wa_groups.GroupsClient`.

Models are frozen attrs classes. They are decoded leniently: unknown keys are ignored, unknown enum values are
kept as plain strings, and timestamps become timezone-aware :class:`~datetime.datetime` values whether Graph
sends them as integers or strings.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

__all__ = [
    "ErrorDetail",
    "FailedJoinRequest",
    "GroupInfo",
    "GroupMessage",
    "GroupOperation",
    "GroupSummary",
    "JoinApprovalMode",
    "JoinRequest",
    "JoinRequestsResult",
    "OperationKind",
    "Page",
    "Participant",
    "SentMessage",
    "UserRef",
]

T = TypeVar("T")


class JoinApprovalMode(str, enum.Enum):
    """Whether people who open a group's invite link join at once or ask to join."""

    APPROVAL_REQUIRED = "approval_required"
    """A join request is created and the business approves or rejects it."""

    AUTO_APPROVE = "auto_approve"
    """Anyone with the link joins directly (Graph's default)."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class UserRef:
    """Who a WhatsApp user is, in every form Meta may name them; every field is optional.

    Since 2026 Meta names users by a business-scoped user id (BSUID, ``user_id``: a country code, a period
    and up to 128 letters and digits, e.g. ``US.13491208655302741918``) and keeps the phone number
    (``wa_id``) only where it still may share it. Identifiers are opaque strings: keep them whole and never
    guess one from another. Participants, join requests, webhook participants, message senders and status
    participants all carry these fields.
    """

    wa_id: str | None = None
    """The user's WhatsApp id (phone number digits), when Meta shares it."""

    user_id: str | None = None
    """The business-scoped user id (BSUID), when Meta sends one."""

    parent_user_id: str | None = None
    """The parent BSUID (linked business portfolios), when Meta sends one."""

    username: str | None = None
    """The user's WhatsApp username, when Meta sends one."""

    input: str | None = None
    """What the business sent to name the user (a phone number or a BSUID), when Meta echoes it."""

    @property
    def key(self) -> str | None:
        """Return the best identifier known: the phone number, else the BSUID, else the echoed input."""
        return self.wa_id or self.user_id or self.input or self.parent_user_id or self.username

    def user_ref(self) -> UserRef:
        """Return just the identity fields, as a plain :class:`UserRef`."""
        return UserRef(
            wa_id=self.wa_id,
            user_id=self.user_id,
            parent_user_id=self.parent_user_id,
            username=self.username,
            input=self.input,
        )


@attrs.frozen(kw_only=True)
class Participant(UserRef):
    """A member of a group, as listed by :meth:`GroupsClient.get_group`; the identity fields are :class:`UserRef`'s."""

    country_code: str | None = None
    """The member's country code, when Graph sends one."""


@attrs.frozen(kw_only=True)
class GroupInfo:
    """Metadata of one group. Fields that were not requested are ``None``."""

    id: str
    """The group id."""

    messaging_product: str | None = None
    """Always ``"whatsapp"``."""

    subject: str | None = None
    """The group's subject (its name)."""

    description: str | None = None
    """The group's description."""

    suspended: bool | None = None
    """True when WhatsApp has suspended the group."""

    creation_timestamp: datetime | None = None
    """When the group was created (UTC)."""

    participants: tuple[Participant, ...] | None = None
    """The members, the business excluded."""

    total_participant_count: int | None = None
    """How many members the group has, the business excluded."""

    join_approval_mode: JoinApprovalMode | str | None = None
    """How people join through the invite link; an unknown value is kept as a string."""


@attrs.frozen(kw_only=True)
class GroupSummary:
    """One entry of the active-groups listing (:meth:`GroupsClient.iter_groups`)."""

    id: str
    """The group id."""

    subject: str | None = None
    """The group's subject."""

    created_at: datetime | None = None
    """When the group was created (UTC)."""


@attrs.frozen(kw_only=True)
class JoinRequest(UserRef):
    """An open request to join a group (:meth:`GroupsClient.iter_join_requests`).

    The person asking is named by the :class:`UserRef` fields (``wa_id``, ``user_id``, ``username``...).
    """

    join_request_id: str
    """The id to approve or reject."""

    creation_timestamp: datetime | None = None
    """When the request was made (UTC)."""


@attrs.frozen(kw_only=True)
class ErrorDetail:
    """An error reported inside a successful answer or a webhook (one item of an ``errors`` list)."""

    code: int | None = None
    """The Graph error code, e.g. 131203."""

    message: str | None = None
    """The error message."""

    title: str | None = None
    """A short title."""

    details: str | None = None
    """Details from ``error_data.details``."""

    def __str__(self) -> str:
        text = self.message or self.title or "error"
        if self.code is not None and not text.startswith(f"(#{self.code})"):
            text = f"(#{self.code}) {text}"
        if self.details and self.details not in text:
            text = f"{text}: {self.details}"
        return text


@attrs.frozen(kw_only=True)
class FailedJoinRequest:
    """A join request that could not be approved or rejected, with the reasons."""

    join_request_id: str
    """The join request id."""

    errors: tuple[ErrorDetail, ...] = ()
    """Why it failed."""


@attrs.frozen(kw_only=True)
class JoinRequestsResult:
    """The answer to :meth:`GroupsClient.approve_join_requests` or :meth:`GroupsClient.reject_join_requests`."""

    succeeded: tuple[str, ...] = ()
    """Ids that were approved (or rejected)."""

    failed: tuple[FailedJoinRequest, ...] = ()
    """Ids that failed, each with its errors."""

    errors: tuple[ErrorDetail, ...] = ()
    """Errors about the call as a whole, if Graph sent any."""

    @property
    def ok(self) -> bool:
        """Return True when Graph named at least one id as done and reported no failure and no error.

        The result does not know which ids were sent, so an answer that names none (``approved_join_requests``
        empty or missing) is not taken as success: it proves nothing was done. Compare :attr:`succeeded` with
        the ids you sent to know that every one of them was done.
        """
        return bool(self.succeeded) and not self.failed and not self.errors


@attrs.frozen(kw_only=True)
class SentMessage:
    """The answer to a message send: :meth:`GroupsClient.send_invite_link_template` or a group send.

    For a group send, ``group_id`` is the group; Meta may echo the group id in ``input`` (and, in older
    answers, in ``wa_id``), or leave them out.
    """

    message_id: str | None
    """The ``wamid`` of the message, to match delivery statuses."""

    wa_id: str | None = None
    """The recipient's WhatsApp id as Graph resolved it (absent for group sends since the BSUID change)."""

    message_status: str | None = None
    """``accepted`` or another status, when Graph sends one."""

    group_id: str | None = None
    """The group the message was sent to, for group sends."""

    input: str | None = None
    """The recipient as Graph echoed it (``contacts[0].input``)."""

    user_id: str | None = None
    """The recipient's BSUID, when Graph sends one (individual sends)."""


#: A group message as the business sent it; the same data as :class:`SentMessage`.
GroupMessage = SentMessage


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a cursor-paged listing.

    Resume a listing after this page with ``after=page.after``.
    """

    items: tuple[T, ...]
    """The items on this page (may be empty even when more pages follow)."""

    before: str | None = None
    """The cursor of the start of this page."""

    after: str | None = None
    """The cursor of the end of this page: pass it as ``after=`` to continue."""

    has_next: bool = False
    """True when Graph announced a further page."""

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class OperationKind(str, enum.Enum):
    """The asynchronous group operations whose outcome Graph reports later by webhook."""

    CREATE = "create"
    """Creating a group (the new group's id arrives in the webhook)."""

    DELETE = "delete"
    """Deleting a group."""

    SETTINGS = "settings"
    """Updating a group's subject, description or picture."""

    PARTICIPANTS_ADD = "participants_add"
    """Adding participants."""

    PARTICIPANTS_REMOVE = "participants_remove"
    """Removing participants."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class GroupOperation:
    """An asynchronous group operation that Graph accepted (plain data).

    Graph answers create, delete, settings and participant calls at once and reports the outcome later in a
    webhook carrying the same ``request_id``. The client returns a
    :class:`~wa_groups.webhooks.TrackedOperation`, this data plus ``await op.wait()`` once a
    :class:`~wa_groups.webhooks.WebhookReceiver` is attached (``client.attach(receiver)``).
    """

    kind: OperationKind = attrs.field(converter=OperationKind)
    """What was asked (a string such as ``"create"`` is accepted and converted)."""

    request_id: str | None = None
    """Graph's request id, which the outcome webhook repeats (``None`` when Graph's answer has none)."""

    group_id: str | None = None
    """The group concerned (``None`` for a create: the id arrives in the webhook)."""

    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    """Graph's answer as decoded JSON."""
