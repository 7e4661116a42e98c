"""The Graph batch callers: one Graph call per batch, its answer mapped to each item's own outcome.

Join requests are answered per id; participants succeed or fail as a whole, and a whole-batch refusal caused by
one user already in the wanted state is looked into (:mod:`.graph_settle`) so the others still go through.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Literal

from .. import errors as errors_module
from .._core.gate import ambiguity_note
from .._graph.errors import error_from_detail
from ..errors import WAGroupsError
from .graph_calls import ACTION_NAMES, ALREADY_IN, GONE, NOT_IN, GraphCalls
from .graph_settle import confirm_approved, members_of, past_the_gate, unconfirmed
from .state import BatchCall

__all__ = ["join_requests_call", "participants_call"]


def join_requests_call(
    client: GraphCalls, action: Literal["approve", "reject"], requesters_of: Callable[[str], Mapping[str, str]]
) -> BatchCall:
    """Return the batch caller that approves or rejects join requests, mapping per-id failures to their ids.

    Within a batch that the transport sent again after an ambiguous failure (a 5xx, a dropped connection), a
    "does not exist" (131213) may be the effect of the attempt whose answer was lost, or a request that never
    existed: the group is looked at, and the id counts as approved only when its requester is now a participant.
    Otherwise it is an :class:`~wa_groups.errors.UnconfirmedError`. ``requesters_of(group)`` gives the
    requesters the job learnt from listings.
    """
    method = client.approve_join_requests if action == "approve" else client.reject_join_requests
    operation = ACTION_NAMES[action]

    async def call(group_id: str, batch: list[str]) -> tuple[list[str], list[tuple[str, WAGroupsError]]]:
        notes = ambiguity_note.get()  # set by the job for this batch (see Job.run_batch)
        before = len(notes) if notes is not None else 0
        answer = await method(group_id, batch)
        retried_blind = notes is not None and len(notes) > before
        ok = set(answer.succeeded)
        reported = set(ok)
        failures: list[tuple[str, WAGroupsError]] = []
        doubtful: list[str] = []
        for failed in answer.failed:
            reported.add(failed.join_request_id)
            if failed.join_request_id in batch and failed.join_request_id not in ok:
                detail = failed.errors[0] if failed.errors else None
                if detail is not None and detail.code == GONE and retried_blind:
                    doubtful.append(failed.join_request_id)
                    continue
                error = (
                    error_from_detail(detail, operation=operation)
                    if detail is not None
                    else WAGroupsError(f"{operation}: Graph reported a failure without a reason")
                )
                failures.append((failed.join_request_id, error))
        if doubtful:
            confirmed = (
                await confirm_approved(client, group_id, doubtful, requesters_of(group_id))
                if action == "approve"
                else set()
            )
            ok.update(confirmed)
            why = "gone after an attempt whose answer was lost, and the group does not show it as done"
            failures.extend((i, unconfirmed(operation, i, why)) for i in doubtful if i not in confirmed)
        whole = (
            error_from_detail(answer.errors[0], operation=operation)
            if answer.errors
            else errors_module.ResponseError(f"{operation}: the answer does not mention this item")
        )
        failures.extend((item, whole) for item in batch if item not in reported)
        return [item for item in batch if item in ok], failures

    return call


def participants_call(
    client: GraphCalls, action: Literal["add", "remove"], maybe_ours: Collection[str] = ()
) -> BatchCall:
    """Return the batch caller that adds or removes participants (a call succeeds or fails as a whole).

    Graph refuses a whole batch when one of its users is already in the group (131202, on add) or not in it
    (131212, on remove). The group is then looked at: users already in the wanted state count as done when an
    earlier attempt of this job (``maybe_ours``) may have done it, and as failures otherwise; the others are
    sent once more without them.
    """
    send = client.add_participants if action == "add" else client.remove_participants
    refusal = ALREADY_IN if action == "add" else NOT_IN

    async def call(group_id: str, batch: list[str]) -> tuple[list[str], list[tuple[str, WAGroupsError]]]:
        try:
            await send(group_id, batch)
            return list(batch), []
        except errors_module.APIError as error:
            if error.code != refusal:
                raise
            refused = error
        members = await members_of(client, group_id)
        settled = [k for k in batch if (k in members) == (action == "add")]
        rest = [k for k in batch if k not in settled]
        done = [k for k in settled if k in maybe_ours]
        failures: list[tuple[str, WAGroupsError]] = [(k, refused) for k in settled if k not in maybe_ours]
        if not settled:  # the group does not show why: report the refusal for the whole batch
            return [], [(k, refused) for k in batch]
        if rest:
            try:
                with past_the_gate():
                    await send(group_id, rest)
                done += rest
            except WAGroupsError as again:
                failures += [(k, again) for k in rest]
        return done, failures

    return call
