"""The fake WUTS gateway's world: groups, communities and their members, and the rules WUTS applies.

Nothing here speaks HTTP. Every call acts as the one connected device, whose JID is :attr:`WutsState.device_jid`.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any, Final

import attrs

from wa_groups.wuts._protocol import participant_jid

__all__ = ["ACTIONS", "MEMBER_ADD_MODES", "FakeMember", "FakeWutsGroup", "WutsState", "now"]

MEMBER_ADD_MODES: Final = frozenset({"admin", "all_members"})
ACTIONS: Final = ("add", "remove", "promote", "demote")


def now() -> str:
    """Return the current UTC time as WUTS writes it (RFC 3339, whole seconds)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    created_at: str = attrs.field(factory=now)
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


class WutsState:
    """Every group and community of one fake WUTS gateway, seen from its connected device.

    ``rng`` is the fake's seeded random source, shared with its fault scripting.
    """

    def __init__(self, rng: random.Random, *, device_jid: str, max_participants: int) -> None:
        self._rng = rng
        #: The JID of the connected device every call acts as.
        self.device_jid = device_jid
        #: When False every route answers ``DEVICE_NOT_READY`` (the device's WhatsApp session is down).
        self.device_ready = True
        #: Members a group may have, the device included.
        self.max_participants = max_participants
        #: Participants WhatsApp refuses to add (privacy settings, not on WhatsApp): left out of add answers.
        self.unreachable: set[str] = set()
        #: Every group and community by JID, in creation order.
        self.groups: dict[str, FakeWutsGroup] = {}
        #: Pictures set so far (their ids count up from it).
        self.pictures = 0

    def member_jid(self, user: str) -> str:
        """Return the JID of a phone, JID or LID, or raise :class:`ValueError`."""
        jid = participant_jid(user)
        if jid is None:
            raise ValueError(f"{user!r} is not a phone number, user JID or LID")
        return jid

    def member(self, jid: str, *, is_admin: bool = False) -> FakeMember:
        """Return a new member (a LID's phone is unknown)."""
        return FakeMember(jid=jid, phone_number=None if jid.endswith("@lid") else jid, is_admin=is_admin)

    def seat_device(self, group: FakeWutsGroup, *, creator: bool) -> None:
        """Make the device a member of ``group``, its super admin when it is the ``creator``."""
        group.members[self.device_jid] = FakeMember(
            jid=self.device_jid, phone_number=self.device_jid, is_admin=creator, is_super_admin=creator
        )

    def code(self) -> str:
        """Return a new 22-character invite code."""
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(self._rng.choice(alphabet) for _ in range(22))

    def new_group(self, name: str, *, owner: str, join_approval: bool = False) -> FakeWutsGroup:
        """Create a group with a fresh JID and invite code; no rule is checked."""
        while True:
            jid = f"120363{self._rng.randrange(10**12):012d}@g.us"
            if jid not in self.groups:
                break
        group = FakeWutsGroup(jid=jid, name=name, owner=owner, join_approval=join_approval, invite_code=self.code())
        self.groups[jid] = group
        return group

    def make_community(self, community: FakeWutsGroup) -> None:
        """Turn a group into a community and create its announcement group, as WUTS does."""
        community.is_community = True
        announcements = self.new_group(community.name, owner=community.owner)
        announcements.announce = True
        announcements.parent_jid = community.jid
        announcements.members = {jid: attrs.evolve(member) for jid, member in community.members.items()}
        community.announcement_group_jid = announcements.jid

    def apply(self, group: FakeWutsGroup, action: str, jids: list[str]) -> list[dict[str, Any]]:
        """Carry out a participants action; return the items of the participants handled."""
        handled: list[dict[str, Any]] = []
        for jid in jids:
            member = group.members.get(jid)
            if action == "add":
                if member is None:
                    if jid in self.unreachable or len(group.members) >= self.max_participants:
                        continue
                    member = group.members[jid] = self.member(jid)
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
