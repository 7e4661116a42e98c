"""Follow group messages: the group-level ``sent``/``failed`` status and per-participant ``delivered``/``read``.

:class:`DeliveryTracker` is fed every new event (``client.attach(receiver)`` does it) and fills each message's
record; :class:`TrackedMessage`, what the send helpers return, reads it: ``await msg.wait()``,
``msg.delivered_to``, ``msg.read_by``. Statuses that arrive before anyone waits are kept (a bounded number).

The tracker uses no I/O and is meant for a single event loop; it is not thread-safe.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

import attrs

from .._graph.errors import error_from_detail, explain
from ..errors import APIError, ClientValidationError, WAGroupsError
from ..models import SentMessage
from .events import EventError, GroupMessageStatus, WebhookEvent

__all__ = ["DeliveryTracker", "TrackedMessage", "status_error"]


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
