"""Looking at a group to settle what a Graph job cannot know from an answer alone.

A batch whose answer was lost may have taken effect. Before anything is sent again, the group is looked at:
a join request still pending was not carried out; one that is gone counts as approved only when its requester
is now a participant; a user already in the wanted state needs nothing more. The batch callers look the same
way within a batch that the transport sent twice (:mod:`.graph_batches`); the settle functions do it for a
resumed job's items of unknown outcome (:func:`~wa_groups.bulk.resume.settle_unknown`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping
from typing import Literal

from .._core.gate import current_gate
from ..errors import UnconfirmedError
from .graph_calls import ACTION_NAMES, GONE, STREAM_PAGE_SIZE, GraphCalls
from .state import Settle, Settled

__all__ = [
    "confirm_approved",
    "join_requests_settle",
    "members_of",
    "participants_settle",
    "past_the_gate",
    "unconfirmed",
]


@contextlib.contextmanager
def past_the_gate() -> Iterator[None]:
    """Let the requests made inside finish a batch already sent, even once its job is stopping.

    A batch that is on the wire is drained, not abandoned: the look at the group that settles its outcome,
    or the resend of the part Graph refused, must not be withheld by the stop, or the batch's outcome would
    be lost.
    """
    token = current_gate.set(None)
    try:
        yield
    finally:
        current_gate.reset(token)


async def members_of(client: GraphCalls, group_id: str) -> set[str]:
    """Return every way the group's current participants are named (WhatsApp ids, user ids, usernames)."""
    with past_the_gate():
        info = await client.get_group(group_id, fields=["participants"])
    names: set[str] = set()
    for participant in info.participants or ():
        names.update(n for n in (participant.wa_id, participant.user_id, participant.username) if n)
    return names


async def confirm_approved(
    client: GraphCalls, group_id: str, ids: Collection[str], requesters: Mapping[str, str]
) -> set[str]:
    """Return the ids among ``ids`` whose requester is now a participant: approved, by this job or another hand.

    An id whose requester is unknown cannot be confirmed. A request that simply disappeared (revoked, or an id
    that never existed) looks the same as an approved one from the listing alone: only the group can tell.
    """
    known = {i: requesters[i] for i in ids if i in requesters}
    if not known:
        return set()
    members = await members_of(client, group_id)
    return {i for i, user in known.items() if user in members}


def unconfirmed(operation: str, item: str, why: str) -> UnconfirmedError:
    """Return the failure of an item whose effect looking could not confirm (never sent again)."""
    return UnconfirmedError(f"{operation}: {item}: {why}", code=GONE)


def join_requests_settle(client: GraphCalls, action: Literal["approve", "reject"]) -> Settle:
    """Return the settle function of join requests: still pending means not done; gone is looked into.

    A request still listed as pending was not carried out and is sent again. One that is gone counts as done
    only when its requester (known from an earlier listing) is now a participant, for approvals; otherwise it
    is an :class:`~wa_groups.errors.UnconfirmedError`, never sent again.
    """
    operation = ACTION_NAMES[action]

    async def settle(group_id: str, keys: list[str], requesters: Mapping[str, str]) -> Settled:
        wanted = set(keys)
        pending: set[str] = set()
        async for request in client.iter_join_requests(group_id, page_size=STREAM_PAGE_SIZE):
            if request.join_request_id in wanted:
                pending.add(request.join_request_id)
        gone = [k for k in keys if k not in pending]
        confirmed = (
            await confirm_approved(client, group_id, gone, requesters) if gone and action == "approve" else set()
        )
        why = (
            "no longer pending, and its requester is not known"
            if action == "approve"
            else "no longer pending; a rejection cannot be confirmed by looking"
        )
        return Settled(
            done=[k for k in gone if k in confirmed],
            again=[k for k in keys if k in pending],
            failed=[
                (
                    k,
                    unconfirmed(
                        operation,
                        k,
                        why
                        if k not in requesters or action == "reject"
                        else "no longer pending, and its requester is not a participant",
                    ),
                )
                for k in gone
                if k not in confirmed
            ],
        )

    return settle


def participants_settle(client: GraphCalls, action: Literal["add", "remove"]) -> Settle:
    """Return the settle function of participants: a user in the wanted state is done, the others go again."""

    async def settle(group_id: str, keys: list[str], requesters: Mapping[str, str]) -> Settled:
        members = await members_of(client, group_id)
        wanted = action == "add"
        return Settled(
            done=[k for k in keys if (k in members) == wanted],
            again=[k for k in keys if (k in members) != wanted],
        )

    return settle
