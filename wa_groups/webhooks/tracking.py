"""Match webhook events to the API operations whose outcome they report.

Creating a group, deleting it, removing participants and updating settings are answered at once with a
``request_id`` (or nothing), while the outcome arrives later by webhook. :class:`OperationTracker` is fed every
new event (``receiver.add_listener(tracker.feed)``) and wakes whoever waits for that outcome. Webhooks can
arrive before the API answer that announces the ``request_id``, so events nobody waits for yet are kept (a
bounded number) for a later :meth:`OperationTracker.wait`.

Group messages are followed the same way in :mod:`wa_groups.webhooks.delivery`.

The tracker uses no I/O and is meant for a single event loop; it is not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Final

import attrs

from .._graph.errors import error_from_detail
from ..errors import APIError, ClientValidationError, WAGroupsError
from ..models import GroupOperation, OperationKind
from .events import (
    EventError,
    GroupCreated,
    GroupCreateFailed,
    GroupDeleted,
    GroupDeleteFailed,
    ParticipantsAdded,
    ParticipantsRemoved,
    SettingsUpdated,
    WebhookEvent,
)

__all__ = [
    "OPERATION_KINDS",
    "OperationTracker",
    "TrackedOperation",
    "operation_kind",
    "outcome_error",
]

#: The operation kinds :meth:`OperationTracker.wait` accepts.
OPERATION_KINDS: Final = frozenset(OperationKind)

_KIND_BY_TYPE: Final[dict[type[WebhookEvent], OperationKind]] = {
    GroupCreated: OperationKind.CREATE,
    GroupCreateFailed: OperationKind.CREATE,
    GroupDeleted: OperationKind.DELETE,
    GroupDeleteFailed: OperationKind.DELETE,
    ParticipantsRemoved: OperationKind.PARTICIPANTS_REMOVE,
    ParticipantsAdded: OperationKind.PARTICIPANTS_ADD,
    SettingsUpdated: OperationKind.SETTINGS,
}

_FAILURE_MESSAGES: Final = {
    OperationKind.CREATE: "the group could not be created",
    OperationKind.DELETE: "the group could not be deleted",
    OperationKind.PARTICIPANTS_REMOVE: "the participants could not be removed",
    OperationKind.PARTICIPANTS_ADD: "the participants could not be added",
    OperationKind.SETTINGS: "the group settings could not be updated",
}


def operation_kind(event: WebhookEvent) -> OperationKind | None:
    """Return the kind of operation ``event`` reports the outcome of (one of :data:`OPERATION_KINDS`), or None."""
    return _KIND_BY_TYPE.get(type(event))


def _failure(event: WebhookEvent) -> tuple[EventError, ...] | None:
    """Return the errors of a failed outcome (possibly empty), or ``None`` when ``event`` is not a failure."""
    if isinstance(event, (GroupCreateFailed, GroupDeleteFailed)):
        return event.errors
    if isinstance(event, ParticipantsRemoved):
        if event.errors:
            return event.errors
        if event.failed_participants and not event.removed_participants:
            return tuple(e for p in event.failed_participants for e in p.errors)
        return None
    if isinstance(event, SettingsUpdated):
        if not event.failed:
            return None
        return event.errors or tuple(e for r in event.results for e in r.errors)
    return None


def outcome_error(event: WebhookEvent) -> APIError | None:
    """Return the error an outcome event reports, or ``None`` when it reports success.

    A failure is: a failed create or delete; a removal with request-wide ``errors`` or with no participant
    removed; a settings update with request-wide ``errors`` or where every reported setting failed. Partial
    successes (some participants or settings failed) are successes: inspect the event for the details.

    The error's class is chosen from the first error's code as for API answers; its ``http_status`` is None.
    """
    errors = _failure(event)
    if errors is None:
        return None
    kind = operation_kind(event)
    failure = _FAILURE_MESSAGES[kind] if kind is not None else "the operation failed"
    if not errors:
        return APIError(failure)
    first = errors[0]
    if not (first.message or first.title):
        first = attrs.evolve(first, message=failure)
    return error_from_detail(first, operation=str(kind) if kind is not None else "operation")


def _eligible_without_request(event: WebhookEvent) -> bool:
    """Tell whether ``event`` may be the outcome of an operation that is matched by group, not by request."""
    if event.request_id is not None:
        return True
    # A user leaving, or joining through the invite link, is not the outcome of a business request.
    if isinstance(event, ParticipantsRemoved):
        return (event.initiated_by or "").lower() != "participant"
    if isinstance(event, ParticipantsAdded):
        return (event.reason or "").lower() != "invite_link"
    return True


class OperationTracker:
    """Wait for the webhook that reports an operation's outcome.

    Args:
        max_buffered: How many events nobody waits for yet are kept (oldest dropped first), both by
            ``request_id`` and by group and kind.

    """

    def __init__(self, *, max_buffered: int = 10_000) -> None:
        if max_buffered < 1:
            raise ClientValidationError(f"max_buffered must be at least 1, got {max_buffered}", argument="max_buffered")
        self._max_buffered = max_buffered
        # Latest event per request id: never consumed, so waiting twice for one request gives one answer.
        self._by_request: OrderedDict[str, WebhookEvent] = OrderedDict()
        # Events no one has claimed, for waiters that know only the group: sequence number -> (key, event).
        self._unclaimed: OrderedDict[int, tuple[tuple[str, str], WebhookEvent]] = OrderedDict()
        self._unclaimed_by_key: dict[tuple[str, str], deque[int]] = {}
        self._unclaimed_by_request: dict[str, int] = {}
        self._sequence = itertools.count()
        self._request_waiters: dict[str, list[asyncio.Future[WebhookEvent]]] = {}
        self._group_waiters: dict[tuple[str, str], deque[asyncio.Future[WebhookEvent]]] = {}

    def __repr__(self) -> str:
        waiting = sum(map(len, self._request_waiters.values())) + sum(map(len, self._group_waiters.values()))
        return f"OperationTracker(buffered={len(self._unclaimed)}, waiting={waiting})"

    # -------------------------------------------------------------------------------------------- feeding

    def feed(self, events: Iterable[WebhookEvent]) -> None:
        """Take new events: wake the matching waiters and keep the rest for later waits."""
        for event in events:
            self._feed_one(event)

    def _feed_one(self, event: WebhookEvent) -> None:
        request_id = event.request_id
        if request_id is not None:
            if self._by_request.get(request_id) == event:
                return  # a redelivery of an event already taken
            self._by_request[request_id] = event
            self._by_request.move_to_end(request_id)
            while len(self._by_request) > self._max_buffered:
                self._by_request.popitem(last=False)
            # Every waiter for this request gets the event.
            resolved = [_resolve(f, event) for f in self._request_waiters.pop(request_id, [])]
            if any(resolved):
                return
        kind = operation_kind(event)
        if kind is None or event.group_id is None or not _eligible_without_request(event):
            return
        key = (event.group_id, kind)
        group_waiters = self._group_waiters.get(key)
        while group_waiters:
            if _resolve(group_waiters.popleft(), event):
                if not group_waiters:
                    del self._group_waiters[key]
                return
        self._group_waiters.pop(key, None)
        self._keep_unclaimed(key, event)

    def _keep_unclaimed(self, key: tuple[str, str], event: WebhookEvent) -> None:
        number = next(self._sequence)
        self._unclaimed[number] = (key, event)
        self._unclaimed_by_key.setdefault(key, deque()).append(number)
        if event.request_id is not None:
            self._unclaimed_by_request[event.request_id] = number
        while len(self._unclaimed) > self._max_buffered:
            oldest = next(iter(self._unclaimed))
            self._drop_unclaimed(oldest)

    def _drop_unclaimed(self, number: int) -> WebhookEvent | None:
        item = self._unclaimed.pop(number, None)
        if item is None:
            return None
        key, event = item
        numbers = self._unclaimed_by_key.get(key)
        if numbers is not None:
            with contextlib.suppress(ValueError):
                numbers.remove(number)
            if not numbers:
                del self._unclaimed_by_key[key]
        if event.request_id is not None and self._unclaimed_by_request.get(event.request_id) == number:
            del self._unclaimed_by_request[event.request_id]
        return event

    # -------------------------------------------------------------------------------------------- waiting

    async def wait(
        self,
        *,
        request_id: str | None = None,
        group_id: str | None = None,
        kind: str,
        timeout: float | None,
    ) -> WebhookEvent:
        """Wait for the outcome of an operation and return its event.

        With ``request_id``, wait for the event carrying that request id (an event already received is
        returned at once, and waiting twice gives the same answer). Without it, take the oldest unclaimed
        outcome of ``kind`` for ``group_id``, or the next one to arrive; users leaving or joining on their
        own are never taken for an outcome.

        Args:
            request_id: The ``request_id`` the API answered with, when it gave one.
            group_id: The group the operation is about.
            kind: One of :data:`OPERATION_KINDS`.
            timeout: Seconds to wait, or ``None`` to wait forever.

        Returns:
            The event reporting success (or partial success).

        Raises:
            APIError: The event reports a failure (see :func:`outcome_error`); the subclass follows the
                error code.
            asyncio.TimeoutError: No matching event arrived in time.
            ClientValidationError: ``kind`` is unknown, or neither ``request_id`` nor ``group_id`` is given.

        """
        if kind not in OPERATION_KINDS:
            allowed = sorted(k.value for k in OperationKind)
            raise ClientValidationError(f"kind must be one of {allowed}, got {kind!r}", argument="kind")
        if not request_id and not group_id:
            raise ClientValidationError("give request_id or group_id to wait for", argument="request_id")
        event = self._take(request_id, group_id, kind)
        if event is None:
            future: asyncio.Future[WebhookEvent] = asyncio.get_running_loop().create_future()
            if request_id:
                self._request_waiters.setdefault(request_id, []).append(future)
            elif group_id:
                self._group_waiters.setdefault((group_id, kind), deque()).append(future)
            try:
                event = await asyncio.wait_for(future, timeout)
            finally:
                self._forget(future, request_id, group_id, kind)
        error = outcome_error(event)
        if error is not None:
            raise error
        return event

    def _take(self, request_id: str | None, group_id: str | None, kind: str) -> WebhookEvent | None:
        if request_id:
            event = self._by_request.get(request_id)
            if event is not None:
                number = self._unclaimed_by_request.get(request_id)
                if number is not None:
                    self._drop_unclaimed(number)
            return event
        numbers = self._unclaimed_by_key.get((group_id or "", kind))
        if not numbers:
            return None
        return self._drop_unclaimed(numbers[0])

    def _forget(
        self, future: asyncio.Future[WebhookEvent], request_id: str | None, group_id: str | None, kind: str
    ) -> None:
        if request_id:
            waiters = self._request_waiters.get(request_id)
            if waiters is not None and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._request_waiters[request_id]
        elif group_id is not None:
            queue = self._group_waiters.get((group_id, kind))
            if queue is not None and future in queue:
                queue.remove(future)
                if not queue:
                    del self._group_waiters[(group_id, kind)]


def _resolve(future: asyncio.Future[WebhookEvent], event: WebhookEvent) -> bool:
    if future.done():
        return False
    future.set_result(event)
    return True


@attrs.frozen(kw_only=True)
class TrackedOperation(GroupOperation):
    """A :class:`~wa_groups.GroupOperation` whose outcome can be awaited with :meth:`wait`.

    Every client method that starts an asynchronous operation returns one; it is tied to the tracker of the
    receiver attached to the client (``client.attach(receiver)``), or to none.
    """

    tracker: OperationTracker | None = attrs.field(default=None, eq=False, repr=False)
    """The tracker fed by the receiver attached to the client, if any."""

    async def wait(self, timeout: float | None = 60.0) -> WebhookEvent:
        """Wait for the webhook event that reports this operation's outcome.

        Args:
            timeout: Seconds to wait; ``None`` waits forever.

        Returns:
            The matching event, e.g. ``GroupCreated`` with the new ``group_id`` and ``invite_link``.

        Raises:
            APIError: The event reports a failure (built from the event's errors).
            asyncio.TimeoutError: No matching event arrived in time.
            WAGroupsError: No receiver is attached, or Graph gave no ``request_id`` to match on.

        """
        if self.tracker is None:
            raise WAGroupsError(
                f"cannot wait for this {self.kind} operation: attach a WebhookReceiver with client.attach(receiver) "
                "before starting it"
            )
        if self.request_id is None and not (self.kind == OperationKind.DELETE and self.group_id):
            raise WAGroupsError(
                f"cannot wait for this {self.kind} operation: Graph's answer carried no request_id to match "
                "its webhook against"
            )
        return await self.tracker.wait(
            request_id=self.request_id, group_id=self.group_id, kind=self.kind, timeout=timeout
        )
