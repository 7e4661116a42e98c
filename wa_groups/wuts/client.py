"""``WutsClient``: the async client for the groups and communities API of the WUTS gateway."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar

from .._core.files import read_upload
from .._core.shell import ConnectionOptions, TransportClient
from .._core.transport import check_base_url
from ..bulk.items import run_items
from ..bulk.options import DEFAULT_CHECKPOINT_INTERVAL, JobOptions
from ..bulk.state import Settle, Settled
from ..errors import ClientValidationError, WAGroupsError
from . import _decode as decode
from . import _protocol as proto
from .models import (
    Community,
    Group,
    GroupParticipant,
    InviteLink,
    JoinResult,
    MemberAddMode,
    ParticipantAction,
    ParticipantsResult,
)

if TYPE_CHECKING:
    from datetime import timedelta

    from typing_extensions import Unpack

    from ..bulk import BulkResult

__all__ = ["WutsClient"]


#: The largest picture read from a path (WUTS documents no limit; this keeps a wrong path from filling memory).
PICTURE_MAX_BYTES = 16 * 1024 * 1024


class WutsClient(TransportClient):
    """Async client for the groups and communities API of WUTS, a multi-tenant linked-device gateway.

    Every call runs on the WhatsApp session of the device the token belongs to, so that device must be
    connected; when it is not, WUTS answers ``DEVICE_NOT_READY``, raised as a retryable
    :class:`~wa_groups.errors.DeviceNotReadyError` (repeatable calls are retried by the policy). Use the client
    as an async context manager so its HTTP session is closed::

        async with WutsClient(token) as client:
            group = await client.create_group("Book club", ["+55 11 99999-9999"])
            await client.promote_participants(group.jid, ["5511999999999"])

    Participants may be written as a phone number with its country code in any usual spelling
    (``"+55 (11) 99999-9999"``), a user JID (``"5511999999999@s.whatsapp.net"``) or a LID (``"…@lid"``); they
    are sent as JIDs. Group and community JIDs are ``<digits>@g.us`` (the bare digits are accepted).

    Args:
        access_token: The WUTS user token (a UUID); sent only in the ``Authorization`` header.
        base_url: WUTS's root URL; https unless the host is loopback (as for the fake server).
        connection: ``session=``, ``timeout=`` (seconds per exchange, 30 by default; WUTS itself allows 60 s
            to read a request), ``retry=``, ``max_connections=`` and ``user_agent=``, as for
            :class:`~wa_groups.GroupsClient`.

    """

    def __init__(
        self, access_token: str, *, base_url: str = proto.DEFAULT_BASE_URL, **connection: Unpack[ConnectionOptions]
    ) -> None:
        self._base_url = check_base_url(base_url)
        self._connect(
            api_root=self._base_url,
            token=access_token,
            token_argument="access_token",
            decode=decode.decode_response,
            **connection,
        )

    #: The variables :meth:`from_env` (and ``wa-groups --backend wuts``) read, by constructor keyword.
    ENVIRONMENT: ClassVar[Mapping[str, str]] = {"access_token": "WUTS_TOKEN", "base_url": "WUTS_BASE_URL"}

    def __repr__(self) -> str:
        return f"WutsClient(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        """The WUTS root URL in use."""
        return self._base_url

    # -------------------------------------------------------------------------------------------- groups

    async def iter_groups(self) -> AsyncIterator[Group]:
        """Stream every group the device belongs to: ``async for group in client.iter_groups(): ...``.

        WUTS sends the whole list in one answer (its items carry no members); the name and the ``async for``
        match :meth:`wa_groups.GroupsClient.iter_groups`.
        """
        for group in decode.decode_groups(await self._send(proto.build("list_groups"))):
            yield group

    async def create_group(
        self,
        name: str,
        users: Iterable[str],
        *,
        announcement: bool | None = None,
        locked: bool | None = None,
        join_approval: bool | None = None,
        community: bool | None = None,
        parent_jid: str | None = None,
    ) -> Group:
        """Create a group with at least one participant and return it, members included.

        Only the options given are sent; WUTS does not document their defaults (``False`` is the likely one).
        Never retried after an ambiguous failure (a 5xx, timeout or dropped connection): the error then has
        ``outcome_unknown=True``, because the group may exist.

        Args:
            name: The group's name.
            users: People to add (phone numbers, JIDs or LIDs).
            announcement: Only admins may send messages.
            locked: Only admins may edit the group's info.
            join_approval: New members need an admin's approval.
            community: Create a community (a parent group) instead of a group.
            parent_jid: Attach the new group to this community.

        """
        options = {
            "announcement": None if announcement is None else proto.check_flag(announcement, "announcement"),
            "locked": None if locked is None else proto.check_flag(locked, "locked"),
            "join_approval": None if join_approval is None else proto.check_flag(join_approval, "join_approval"),
            "community": None if community is None else proto.check_flag(community, "community"),
            "parent_jid": None if parent_jid is None else proto.check_group_jid(parent_jid, "parent_jid"),
        }
        body = proto.create_body(proto.check_name(name), proto.check_users(users), options)
        return decode.decode_group(await self._send(proto.build("create_group", json=body)), "create_group")

    async def get_group(self, group_id: str) -> Group:
        """Return a group's info with its participants."""
        request = proto.build("get_group", jid=proto.check_group_jid(group_id))
        return decode.decode_group(await self._send(request), "get_group")

    async def update_group(
        self,
        group_id: str,
        *,
        name: str | None = None,
        topic: str | None = None,
        description: str | None = None,
        announcement: bool | None = None,
        locked: bool | None = None,
        join_approval: bool | None = None,
        member_add_mode: MemberAddMode | str | None = None,
    ) -> Group:
        """Change a group's name, topic or settings (at least one) and return the refreshed group.

        WUTS lists the description apart from the topic; in WhatsApp they are the same text, so pass one. The
        JSON keys of ``description``, ``locked`` and ``join_approval`` are read from the create options (see
        ``UPDATE_FIELDS`` in ``wa_groups.wuts._protocol``).
        """
        given = {
            "name": None if name is None else proto.check_name(name),
            "topic": None if topic is None else proto.check_text(topic, "topic"),
            "description": None if description is None else proto.check_text(description, "description"),
            "announcement": None if announcement is None else proto.check_flag(announcement, "announcement"),
            "locked": None if locked is None else proto.check_flag(locked, "locked"),
            "join_approval": None if join_approval is None else proto.check_flag(join_approval, "join_approval"),
            "member_add_mode": None if member_add_mode is None else proto.check_member_add_mode(member_add_mode),
        }
        body = {proto.UPDATE_FIELDS[key]: value for key, value in given.items() if value is not None}
        if not body:
            raise ClientValidationError(
                f"update_group needs at least one of {', '.join(proto.UPDATE_FIELDS)}", argument="name"
            )
        request = proto.build("update_group", json=body, jid=proto.check_group_jid(group_id))
        return decode.decode_group(await self._send(request), "update_group")

    async def leave_group(self, group_id: str) -> None:
        """Make the device leave a group."""
        await self._send(proto.build("leave_group", jid=proto.check_group_jid(group_id)))

    # -------------------------------------------------------------------------------------- participants

    async def add_participants(self, group_id: str, users: Iterable[str]) -> ParticipantsResult:
        """Add people to a group directly; return WUTS's per-participant result.

        WUTS does not document how it reports a participant it could not add (privacy settings, not on
        WhatsApp...). This library reads its answer as one item per participant handled, so a participant
        missing from :attr:`ParticipantsResult.participants` was not added; the bulk helpers count it as failed.
        """
        return await self._participants(ParticipantAction.ADD, group_id, users)

    async def remove_participants(self, group_id: str, users: Iterable[str]) -> ParticipantsResult:
        """Remove members from a group; return WUTS's per-participant result."""
        return await self._participants(ParticipantAction.REMOVE, group_id, users)

    async def promote_participants(self, group_id: str, users: Iterable[str]) -> ParticipantsResult:
        """Make members admins (``action: promote``); each item's ``is_admin`` tells whether it worked."""
        return await self._participants(ParticipantAction.PROMOTE, group_id, users)

    async def demote_participants(self, group_id: str, users: Iterable[str]) -> ParticipantsResult:
        """Take admin rights from members (``action: demote``); each item's ``is_admin`` tells whether it worked."""
        return await self._participants(ParticipantAction.DEMOTE, group_id, users)

    async def _participants(self, action: ParticipantAction, group_id: str, users: Iterable[str]) -> ParticipantsResult:
        operation = proto.PARTICIPANT_OPERATIONS[action]
        body = proto.participants_body(proto.check_users(users), action)
        request = proto.build(operation, json=body, jid=proto.check_group_jid(group_id))
        return decode.decode_participants(await self._send(request), action, operation)

    # -------------------------------------------------------------------------------------- invite links

    async def get_invite_link(self, group_id: str) -> InviteLink:
        """Return the group's current invite link (``str(link)`` is the URL); the link is not regenerated."""
        request = proto.build("get_invite_link", jid=proto.check_group_jid(group_id))
        return decode.decode_invite(await self._send(request), "get_invite_link")

    async def reset_invite_link(self, group_id: str) -> InviteLink:
        """Revoke the group's invite link and return the new one; earlier links stop working."""
        request = proto.build("reset_invite_link", jid=proto.check_group_jid(group_id))
        return decode.decode_invite(await self._send(request), "reset_invite_link")

    async def join_group(
        self,
        link: str | None = None,
        *,
        code: str | None = None,
        group_id: str | None = None,
        inviter_jid: str | None = None,
    ) -> JoinResult:
        """Make the device join a group by invite link, or by an invite code with the group and the inviter.

        ``join_group("https://chat.whatsapp.com/AbC...")`` (the bare link code works too) or
        ``join_group(code=..., group_id=..., inviter_jid=...)`` for a code from an invite message. When the
        group needs approval, :attr:`JoinResult.pending_approval` is True. The code's JSON key is undocumented;
        ``JOIN_CODE_FIELD`` in ``wa_groups.wuts._protocol`` holds this library's reading.
        """
        if link is not None:
            if code is not None or group_id is not None or inviter_jid is not None:
                raise ClientValidationError(
                    "join_group takes a link, or code= with group_id= and inviter_jid=, not both", argument="link"
                )
            body: dict[str, str] = {"link": proto.check_invite(link)}
        elif code is None or group_id is None or inviter_jid is None:
            raise ClientValidationError(
                "join_group needs a link, or code=, group_id= and inviter_jid= together", argument="code"
            )
        else:
            body = {
                proto.JOIN_CODE_FIELD: proto.check_code(code),
                "group_jid": proto.check_group_jid(group_id),
                "inviter_jid": proto.normalise_participant(inviter_jid, "inviter_jid"),
            }
        return decode.decode_join(await self._send(proto.build("join_group", json=body)))

    # ------------------------------------------------------------------------------------------ settings

    async def set_ephemeral(self, group_id: str, duration: int | timedelta) -> int:
        """Set the disappearing-message timer and return it in seconds.

        Args:
            group_id: The group.
            duration: 0 (off), 86400 (24 hours), 604800 (7 days) or 7776000 (90 days), in seconds or as a
                :class:`~datetime.timedelta`; WUTS accepts no other value.

        """
        seconds = proto.check_ephemeral(duration)
        request = proto.build("set_ephemeral", json={"duration_seconds": seconds}, jid=proto.check_group_jid(group_id))
        return decode.decode_ephemeral(await self._send(request), seconds)

    async def set_group_picture(self, group_id: str, picture: bytes | str | os.PathLike[str]) -> str | None:
        """Set the group's photo from JPEG bytes or a path (sent base64-encoded); return WUTS's ``picture_id``."""
        gid = proto.check_group_jid(group_id)
        data, _ = read_upload(picture, argument="picture", max_bytes=PICTURE_MAX_BYTES)
        body = {"image_base64": proto.encode_picture(data)}
        return decode.decode_picture(await self._send(proto.build("set_group_picture", json=body, jid=gid)))

    # --------------------------------------------------------------------------------------- communities

    async def create_community(self, name: str, users: Iterable[str] = ()) -> Community:
        """Create a community (a parent group); WUTS also creates its announcement group.

        ``users`` may be empty. Never retried after an ambiguous failure, like :meth:`create_group`.
        """
        body = {
            "name": proto.check_name(name),
            "participants": proto.check_users(users, allow_empty=True),
        }
        return decode.decode_community(await self._send(proto.build("create_community", json=body)))

    async def add_community_participants(self, community_jid: str, users: Iterable[str]) -> ParticipantsResult:
        """Add members to a community at parent-group level."""
        return await self._community(ParticipantAction.ADD, community_jid, users)

    async def remove_community_participants(self, community_jid: str, users: Iterable[str]) -> ParticipantsResult:
        """Remove members from a community at parent-group level."""
        return await self._community(ParticipantAction.REMOVE, community_jid, users)

    async def _community(
        self, action: ParticipantAction, community_jid: str, users: Iterable[str]
    ) -> ParticipantsResult:
        operation = f"{action.value}_community_participants"
        body = proto.participants_body(proto.check_users(users), action if proto.COMMUNITY_SENDS_ACTION else None)
        request = proto.build(operation, json=body, jid=proto.check_group_jid(community_jid, "community_jid"))
        return decode.decode_participants(await self._send(request), action, operation)

    async def link_group(self, community_jid: str, group_id: str) -> None:
        """Attach an existing group to a community.

        WUTS names this call but its reference does not give the path or body: this library sends
        ``POST /communities/{community_jid}/groups`` with ``{"group_id": ...}`` (``ENDPOINTS`` and
        ``LINK_GROUP_FIELD`` in ``wa_groups.wuts._protocol``). To attach a new group, use
        ``create_group(..., parent_jid=community_jid)``, which is documented.
        """
        await self._link("link_group", community_jid, group_id)

    async def unlink_group(self, community_jid: str, group_id: str) -> None:
        """Detach a group from a community (``DELETE``, same undocumented path and body as :meth:`link_group`)."""
        await self._link("unlink_group", community_jid, group_id)

    async def _link(self, operation: str, community_jid: str, group_id: str) -> None:
        body = {proto.LINK_GROUP_FIELD: proto.check_group_jid(group_id)}
        await self._send(proto.build(operation, json=body, jid=proto.check_group_jid(community_jid, "community_jid")))

    # ---------------------------------------------------------------------------------------------- bulk

    async def bulk_add_participants(
        self, group_id: str, users: Iterable[str], **options: Unpack[JobOptions]
    ) -> BulkResult:
        """Add many participants in batches of at most 8; every participant ends in exactly one outcome list.

        A participant WUTS does not report as added is a failure (see :meth:`add_participants`). The options
        are those of every bulk job (:class:`~wa_groups.bulk.JobOptions`): ``concurrency``, ``batch_size``,
        ``on_progress``, ``resume``, ``result``, ``stop``, ``checkpoint`` and ``checkpoint_interval``.

        Participants are reported as the caller spelt them first; repeats (in any spelling) are noted in
        ``duplicates``. A resumed job looks at the group before sending anything whose earlier outcome is
        unknown: a participant already in the wanted state (a member, an admin...) counts as done.
        """
        return await self._bulk(ParticipantAction.ADD, group_id, users, options)

    async def bulk_remove_participants(
        self, group_id: str, users: Iterable[str], **options: Unpack[JobOptions]
    ) -> BulkResult:
        """Remove many participants in batches of at most 8 (options as in :meth:`bulk_add_participants`)."""
        return await self._bulk(ParticipantAction.REMOVE, group_id, users, options)

    async def bulk_promote(self, group_id: str, users: Iterable[str], **options: Unpack[JobOptions]) -> BulkResult:
        """Make many members admins in batches of at most 8; a member still not an admin afterwards failed."""
        return await self._bulk(ParticipantAction.PROMOTE, group_id, users, options)

    async def bulk_demote(self, group_id: str, users: Iterable[str], **options: Unpack[JobOptions]) -> BulkResult:
        """Take admin rights from many members in batches of at most 8; one still an admin afterwards failed."""
        return await self._bulk(ParticipantAction.DEMOTE, group_id, users, options)

    async def _bulk(
        self, action: ParticipantAction, group_id: str, users: Iterable[str], options: JobOptions
    ) -> BulkResult:
        operation = proto.PARTICIPANT_OPERATIONS[action]

        async def call(group: str, batch: list[str]) -> tuple[list[str], list[tuple[str, WAGroupsError]]]:
            answer = await self._participants(action, group, batch)
            succeeded, failed = proto.participant_outcomes(action, batch, answer)
            return succeeded, [(item, proto.participant_error(operation, item, why)) for item, why in failed.items()]

        return await run_items(
            call,
            self.retry_policy.sleep,
            action=operation,
            group_id=proto.check_group_jid(group_id),
            items=users,
            normalise=proto.normalise_participant,
            concurrency=options.get("concurrency", 8),
            batch_size=options.get("batch_size", proto.BULK_BATCH_SIZE),
            on_progress=options.get("on_progress"),
            resume=options.get("resume"),
            result=options.get("result"),
            stop=options.get("stop"),
            checkpoint=options.get("checkpoint"),
            checkpoint_interval=options.get("checkpoint_interval", DEFAULT_CHECKPOINT_INTERVAL),
            settle=self._settle_by_looking(action),
            keep_spelling=True,
            max_wait=self.retry_policy.max_wait,
        )

    def _settle_by_looking(self, action: ParticipantAction) -> Settle:
        """Return the settle function of a resumed job: look at the group, and send only what is not done yet."""

        async def settle(group_id: str, keys: list[str], requesters: Mapping[str, str]) -> Settled:
            members: dict[str, GroupParticipant] = {}
            for member in (await self.get_group(group_id)).participants or ():
                for spelling in (member.jid, member.phone_number):
                    jid = proto.participant_jid(spelling) if spelling else None
                    if jid is not None:
                        members.setdefault(jid, member)
            done = [key for key in keys if proto.in_wanted_state(action, members.get(key))]
            return Settled(done=done, again=[key for key in keys if key not in done])

        return settle
