"""Match webhook events to the API operations whose outcome they report, and follow group messages.

Creating a group, deleting it, removing participants and updating settings are answered at once with a
``request_id`` (or nothing), while the outcome arrives later by webhook. :class:`OperationTracker` is fed every
new event (``receiver.add_listener(tracker.feed)``) and wakes whoever waits for that outcome. Webhooks can
arrive before the API answer that announces the ``request_id``, so events nobody waits for yet are kept (a
bounded number) for a later :meth:`OperationTracker.wait`.

:class:`DeliveryTracker` does the same for group messages: the group-level ``sent``/``failed`` status and the
per-participant ``delivered``/``read`` statuses, behind :class:`TrackedMessage`.

The trackers use no I/O and is meant for a single event loop; it is not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Final

import attrs

from .._graph.errors import error_from_detail, explain
from ..errors import APIError, ClientValidationError, WAGroupsError
from ..models import GroupOperation, OperationKind, SentMessage
from .events import (
    EventError,
    GroupCreated,
    GroupCreateFailed,
    GroupDeleted,
    GroupDeleteFailed,
    GroupMessageStatus,
    ParticipantsAdded,
    ParticipantsRemoved,
    SettingsUpdated,
    WebhookEvent,
)

__all__ = [
    "OPERATION_KINDS",
    "DeliveryTracker",
    "OperationTracker",
    "TrackedMessage",
    "TrackedOperation",
    "operation_kind",
    "outcome_error",
    "status_error",
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


# ------------------------------------------------------------------------------------------ group messages

#: Statuses that show a group message went out (``delivered``/``read`` imply ``sent``: Meta may skip one).
_SENT_OR_LATER: Final = frozenset({"sent", "delivered", "read"})


@attrs.define
class _Delivery:
    """What the statuses received so far say about one group message."""

    sent: GroupMessageStatus | None = None
    failed: GroupMessageStatus | None = None
    delivered: dict[str, None] = attrs.field(factory=dict)
    read: dict[str, None] = attrs.field(factory=dict)
    failed_for: dict[str, tuple[EventError, ...]] = attrs.field(factory=dict)
    waiters: list[asyncio.Future[GroupMessageStatus]] = attrs.field(factory=list)


def status_error(status: GroupMessageStatus) -> APIError:
    """Return the error a group-level ``failed`` status reports (its first error, explained when known)."""
    if not status.errors:
        return APIError("the group message could not be sent", operation="send_message")
    first = status.errors[0]
    if not (first.message or first.title):
        first = attrs.evolve(first, message="the group message could not be sent")
    error = error_from_detail(first, operation="send_message")
    error.message = explain(error.code, error.message)
    return error


class DeliveryTracker:
    """Follow the statuses of group messages: ``sent``/``failed`` for the group, ``delivered``/``read`` per member.

    Fed every new event (``receiver.add_listener(tracker.feed)``, which ``client.attach`` does), it keeps what
    it learnt per message id, so statuses that arrive before anyone waits (even before the send's answer)
    are not lost. At most ``max_messages`` messages are remembered, the oldest forgotten first.
    """

    def __init__(self, *, max_messages: int = 10_000) -> None:
        if max_messages < 1:
            raise ClientValidationError(f"max_messages must be at least 1, got {max_messages}", argument="max_messages")
        self._max_messages = max_messages
        self._messages: OrderedDict[str, _Delivery] = OrderedDict()

    def __repr__(self) -> str:
        return f"DeliveryTracker(messages={len(self._messages)})"

    def _delivery(self, message_id: str) -> _Delivery:
        delivery = self._messages.get(message_id)
        if delivery is None:
            delivery = self._messages[message_id] = _Delivery()
            while len(self._messages) > self._max_messages:
                oldest = next(iter(self._messages))
                if self._messages[oldest].waiters:  # never forget a message somebody waits for
                    self._messages.move_to_end(oldest)
                    break
                del self._messages[oldest]
        return delivery

    def feed(self, events: Iterable[WebhookEvent]) -> None:
        """Take new events; group message statuses update their message and wake its waiters."""
        for event in events:
            if isinstance(event, GroupMessageStatus) and event.message_id is not None:
                self._feed_status(event)

    def _feed_status(self, event: GroupMessageStatus) -> None:
        assert event.message_id is not None
        delivery = self._delivery(event.message_id)
        status = (event.status or "").lower()
        who = event.participant.key if event.participant is not None else None
        if status == "failed":
            if who is not None:
                delivery.failed_for[who] = event.errors
                return
            delivery.failed = delivery.failed or event
        elif status in _SENT_OR_LATER:
            if who is not None and status in ("delivered", "read"):
                delivery.delivered.setdefault(who, None)
                if status == "read":
                    delivery.read.setdefault(who, None)
            if delivery.sent is None and (status == "sent" or who is not None):
                delivery.sent = event
        else:
            return
        outcome = delivery.sent or delivery.failed
        if outcome is not None:
            waiters, delivery.waiters = delivery.waiters, []
            for future in waiters:
                if not future.done():
                    future.set_result(outcome)

    def delivered_to(self, message_id: str) -> tuple[str, ...]:
        """Return the participants a message was delivered to (or read by), in the order Meta reported them."""
        delivery = self._messages.get(message_id)
        return tuple(delivery.delivered) if delivery is not None else ()

    def read_by(self, message_id: str) -> tuple[str, ...]:
        """Return the participants who read a message, in the order Meta reported them."""
        delivery = self._messages.get(message_id)
        return tuple(delivery.read) if delivery is not None else ()

    def failed_for(self, message_id: str) -> dict[str, tuple[EventError, ...]]:
        """Return the participants a message could not reach, with Meta's reasons (rarely reported)."""
        delivery = self._messages.get(message_id)
        return dict(delivery.failed_for) if delivery is not None else {}

    async def wait(self, message_id: str, *, timeout: float | None) -> GroupMessageStatus:
        """Wait until Meta reports a message ``sent`` (or later) and return that status.

        Raises:
            APIError: Meta reported the message ``failed``; built from the status's first error.
            asyncio.TimeoutError: No status came in time.

        """
        delivery = self._delivery(message_id)
        outcome = delivery.sent or delivery.failed
        if outcome is None:
            future: asyncio.Future[GroupMessageStatus] = asyncio.get_running_loop().create_future()
            delivery.waiters.append(future)
            try:
                outcome = await asyncio.wait_for(future, timeout)
            finally:
                if future in delivery.waiters:
                    delivery.waiters.remove(future)
        if delivery.sent is None and delivery.failed is not None:
            raise status_error(delivery.failed)
        return outcome


@attrs.frozen(kw_only=True)
class TrackedMessage(SentMessage):
    """A message sent to a group (:class:`~wa_groups.SentMessage`) whose delivery can be followed.

    With a receiver attached to the client (``client.attach(receiver)``), ``await msg.wait()`` returns once
    Meta reports the message sent to the group, and :attr:`delivered_to` / :attr:`read_by` grow as the
    participants' statuses arrive.
    """

    tracker: DeliveryTracker | None = attrs.field(default=None, eq=False, repr=False)
    """The tracker fed by the receiver attached to the client, if any."""

    @property
    def delivered_to(self) -> tuple[str, ...]:
        """The participants (phone number, else BSUID) the message reached so far; a read counts as delivered."""
        if self.tracker is None or self.message_id is None:
            return ()
        return self.tracker.delivered_to(self.message_id)

    @property
    def read_by(self) -> tuple[str, ...]:
        """The participants (phone number, else BSUID) who read the message so far."""
        if self.tracker is None or self.message_id is None:
            return ()
        return self.tracker.read_by(self.message_id)

    async def wait(self, timeout: float | None = 60.0) -> GroupMessageStatus:
        """Wait until Meta reports the message sent to the group; return that status event.

        Args:
            timeout: Seconds to wait; ``None`` waits forever.

        Raises:
            APIError: Meta reported the message ``failed`` (the class follows the error code).
            asyncio.TimeoutError: No status arrived in time.
            WAGroupsError: No receiver was attached to the client when the message was sent.

        """
        if self.tracker is None or self.message_id is None:
            raise WAGroupsError(
                "cannot wait for this message: attach a WebhookReceiver with client.attach(receiver) before sending"
            )
        return await self.tracker.wait(self.message_id, timeout=timeout)
