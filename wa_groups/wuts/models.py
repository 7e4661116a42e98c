"""Typed data returned by :class:`~wa_groups.wuts.WutsClient`.

Models are frozen attrs classes decoded leniently, like the Graph models: unknown keys are ignored, booleans
sent as strings are understood, and RFC 3339 timestamps become timezone-aware :class:`~datetime.datetime`
values. Participant and group JIDs are kept exactly as WUTS sends them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import attrs

__all__ = [
    "Community",
    "FieldError",
    "Group",
    "GroupParticipant",
    "InviteLink",
    "JoinResult",
    "MemberAddMode",
    "ParticipantAction",
    "ParticipantsResult",
]


class ParticipantAction(str, enum.Enum):
    """What a participants call does (WUTS's ``action`` field)."""

    ADD = "add"
    """Add people to the group (the default of ``POST /groups/{jid}/participants``)."""

    REMOVE = "remove"
    """Remove members (the default of ``DELETE /groups/{jid}/participants``)."""

    PROMOTE = "promote"
    """Make members admins."""

    DEMOTE = "demote"
    """Take admin rights away from members."""

    def __str__(self) -> str:
        return self.value


class MemberAddMode(str, enum.Enum):
    """Who may add members to a group (``member_add_mode`` of :meth:`WutsClient.update_group`).

    WUTS documents ``"admin"`` only; ``"all_members"`` is this library's reading of the other value. Any other
    string is passed through unchanged.
    """

    ADMIN = "admin"
    """Only admins add members."""

    ALL_MEMBERS = "all_members"
    """Every member may add members."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class GroupParticipant:
    """One participant as WUTS reports it: in a group's member list or in a participants call's result."""

    jid: str | None = None
    """The member's JID: ``<phone>@s.whatsapp.net`` or a ``@lid`` id (``None`` if WUTS left it out)."""

    phone_number: str | None = None
    """The member's phone number; WUTS sends it as a user JID (``<phone>@s.whatsapp.net``)."""

    is_admin: bool = False
    """True for admins (the super admin included)."""

    is_super_admin: bool = False
    """True for the group's creator."""


@attrs.frozen(kw_only=True)
class Group:
    """A group as WUTS describes it (:meth:`WutsClient.get_group`, :meth:`WutsClient.iter_groups`...)."""

    jid: str
    """The group JID, ``<digits>@g.us``."""

    name: str | None = None
    """The group's name (its subject)."""

    topic: str | None = None
    """The group's topic (its description)."""

    owner: str | None = None
    """The JID of the group's creator."""

    created_at: datetime | None = None
    """When the group was created (UTC)."""

    is_announce: bool | None = None
    """True when only admins may send messages."""

    is_locked: bool | None = None
    """True when only admins may edit the group's info."""

    join_approval: bool | None = None
    """True when new members need an admin's approval."""

    members_count: int | None = None
    """How many members the group has."""

    participants: tuple[GroupParticipant, ...] | None = None
    """The members; ``None`` in listings, which carry no member list."""

    @property
    def admins(self) -> tuple[GroupParticipant, ...]:
        """Return the members who are admins (empty when the member list is unknown)."""
        return tuple(p for p in self.participants or () if p.is_admin)


@attrs.frozen(kw_only=True)
class ParticipantsResult:
    """The answer to a participants call: WUTS's per-participant result.

    WUTS does not document how it reports a participant it could not handle; see
    :meth:`WutsClient.add_participants` for how the library reads the list.
    """

    action: ParticipantAction | str
    """What was asked."""

    participants: tuple[GroupParticipant, ...] = ()
    """One entry per participant WUTS reported, with its state after the call."""

    jid: str | None = None
    """The group or community JID, when WUTS repeats it (community calls do)."""

    def __iter__(self) -> Iterator[GroupParticipant]:
        return iter(self.participants)

    def __len__(self) -> int:
        return len(self.participants)


@attrs.frozen(kw_only=True)
class InviteLink:
    """A group's invite link (``str(link)`` is the URL)."""

    group_jid: str | None
    """The group JID."""

    invite_link: str
    """The URL, ``https://chat.whatsapp.com/<code>``."""

    reset_at: datetime | None = None
    """When the link was reset (only after :meth:`WutsClient.reset_invite_link`)."""

    @property
    def code(self) -> str:
        """Return the invite code: the last part of the link."""
        return self.invite_link.rstrip("/").rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return self.invite_link


@attrs.frozen(kw_only=True)
class JoinResult:
    """The answer to :meth:`WutsClient.join_group`."""

    group_jid: str | None = None
    """The group joined (or asked to join)."""

    pending_approval: bool = False
    """True when the group needs an admin's approval: the device asked to join and is not a member yet."""


@attrs.frozen(kw_only=True)
class Community:
    """A community (parent group) created by :meth:`WutsClient.create_community`.

    WUTS does not document the fields of its answer, so only the JID and name are read (from ``jid`` and
    ``name``, as in a group); everything it sent is kept in :attr:`raw`.
    """

    jid: str | None = None
    """The community's JID, ``<digits>@g.us``, when the answer carries one."""

    name: str | None = None
    """The community's name, when the answer carries one."""

    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    """The ``community`` object exactly as WUTS sent it."""


@attrs.frozen(kw_only=True)
class FieldError:
    """One field WUTS refused (an item of the error envelope's ``validation`` list)."""

    field: str | None = None
    """The field's name, e.g. ``participants[0]``."""

    message: str | None = None
    """Why it was refused."""

    value: Any = None
    """The value refused, as WUTS repeated it."""

    def __str__(self) -> str:
        text = self.message or "invalid"
        return f"{self.field}: {text}" if self.field else text
