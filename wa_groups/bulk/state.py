"""What a running job holds per group, and the calls it is given (data and types).

Items are handled under a *key* (the normalised form, e.g. a phone number's digits) and reported under the
caller's own first spelling. Every accepted key is, at any moment, in exactly one place: held (accepted, waiting
for something the job must learn before sending it), queued (accepted, not dispatched), in a batch in flight, or
recorded in one of the result's three outcomes. That is what lets a
checkpoint written at any moment, and a cancelled job, account for every item.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

import attrs

from ..errors import WAGroupsError
from .results import BulkResult

__all__ = ["Batch", "BatchCall", "GroupRun", "Settle", "Settled", "unique"]

#: Send one batch for a group; return (items that succeeded, [(item, error)] for those that failed).
BatchCall = Callable[[str, list[str]], Awaitable[tuple[list[str], list[tuple[str, WAGroupsError]]]]]


@attrs.define
class Settled:
    """What looking at the server said about items whose earlier attempt may have taken effect."""

    done: list[str] = attrs.field(factory=list)
    """Items found in the state the job wanted: the earlier attempt took effect."""

    again: list[str] = attrs.field(factory=list)
    """Items found not done: sending them again does not do anything twice."""

    failed: list[tuple[str, WAGroupsError]] = attrs.field(factory=list)
    """Items that looking could not settle, each with why (e.g. an ``UnconfirmedError``)."""


#: Look at the server to settle items of a group whose outcome is unknown: (group, items, requesters) -> Settled.
Settle = Callable[[str, list[str], Mapping[str, str]], Awaitable[Settled]]


@attrs.define(eq=False)
class GroupRun:
    """One group's share of a job: its result and the items accepted but not yet recorded."""

    result: BulkResult
    """The result being filled."""

    seen: set[str] = attrs.field(factory=set)
    """Keys accepted by the job in any state (queued, in flight or recorded): a key is never taken twice."""

    queued: dict[str, None] = attrs.field(factory=dict)
    """Keys accepted and not dispatched yet, in order."""

    held: dict[str, None] = attrs.field(factory=dict)
    """Keys accepted but not to be sent yet (e.g. until the listing that names their requester is read)."""

    spelling: dict[str, str] = attrs.field(factory=dict)
    """Key -> the caller's first spelling, where the two differ."""

    def label(self, key: str) -> str:
        """Return the caller's spelling of ``key``."""
        return self.spelling.get(key, key)


@attrs.define(eq=False)
class Batch:
    """One batch of a job and how far it got."""

    run: GroupRun
    """The group's run the batch belongs to."""

    keys: list[str]
    """The keys sent together."""

    sent: bool = False
    """True once the batch's request may have left (the call began)."""

    recorded: bool = False
    """True once each of its keys is recorded in an outcome."""


def unique(items: Iterable[str], normalise: Callable[[str], str], run: GroupRun | None = None) -> list[str]:
    """Return the distinct normalised items (keys), in their first order.

    With ``run``, remember each key's first spelling and note every dropped repeat in ``run.result.duplicates``.
    """
    first: dict[str, str] = {}
    for item in items:
        key = normalise(item)
        if key in first:
            if run is not None:
                run.result.duplicates.setdefault(item, first[key])
            continue
        first[key] = item
        if run is not None and item != key:
            run.spelling[key] = item
    return list(first)
