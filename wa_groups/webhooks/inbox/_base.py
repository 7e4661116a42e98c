"""What every inbox shares: the stored form of an event, the :class:`Inbox` contract and its errors.

An inbox stores each new notification of a delivery before the receiver answers 200, hands stored entries to
workers, and forgets an entry only once its handler has succeeded.

**The stored form.** An entry holds the *notification*, not the decoded event: a copy of the delivery's
envelope cut down to the one notification (one item of ``groups``, ``statuses`` or ``messages``, with the
entry id, field and metadata around it), as compact JSON text, plus the position of the event among the events
that notification decodes to (almost always 0). A worker re-decodes it with :func:`parse_webhook`, so an event
stored by one version of the library is decoded by the version that handles it, and the stored text is exactly
what Meta sent for that notification.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final

import attrs

from ...errors import WAGroupsError, WebhookPayloadError
from .._parse import parse_webhook
from ..events import WebhookEvent

__all__ = [
    "DeadLetter",
    "Inbox",
    "InboxEntry",
    "InboxFullError",
    "InboxItem",
    "InboxUnavailableError",
    "decode_entry",
    "split_delivery",
]

#: The lists inside a change's ``value`` whose items are separate notifications.
_ITEM_LISTS: Final = ("groups", "statuses", "messages")


class InboxUnavailableError(WAGroupsError):
    """The inbox cannot store or hand out events right now (database locked or full, Redis down).

    The receiver answers 503 to the delivery, so Meta sends it again later.
    """


class InboxFullError(InboxUnavailableError):
    """The inbox holds as many unfinished events as it is allowed to."""


@attrs.frozen(kw_only=True)
class InboxItem:
    """One new event as an inbox stores it."""

    key: str
    """The hex digest that identifies the event across Meta's redeliveries (dedupe key)."""

    notification: str
    """The notification as compact JSON text: the delivery's envelope cut down to one notification."""

    index: int = 0
    """Which of the events decoded from ``notification`` this is."""


@attrs.frozen(kw_only=True)
class InboxEntry:
    """A stored event handed to a worker (or just stored by :meth:`Inbox.put`)."""

    id: str
    """The inbox's id of the entry (a row id, a stream id)."""

    item: InboxItem
    """What was stored."""

    attempts: int = 0
    """How many times a handler has failed on it so far."""


@attrs.frozen(kw_only=True)
class DeadLetter:
    """An event whose handler failed on every attempt; :meth:`Inbox.replay` puts it back in line."""

    id: str
    """The dead letter's id, for :meth:`Inbox.replay`."""

    item: InboxItem
    """What was stored."""

    attempts: int
    """How many times the handler failed on it."""

    error: str
    """The last failure, as ``ExceptionType: message``."""

    def event(self) -> WebhookEvent:
        """Return the event, decoded again from the stored notification."""
        return decode_entry(self.item)


def _digest(event: WebhookEvent) -> str | None:
    """Return a stable digest identifying ``event`` across redeliveries, or ``None`` if it has none."""
    try:
        text = json.dumps(
            [type(event).__name__, event.waba_id, event.phone_number_id, event.raw],
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
    except (TypeError, ValueError, RecursionError):
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _compact(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _envelope(document: Mapping[str, Any], entry: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    outer = {k: v for k, v in document.items() if k != "entry"}
    inner = {k: v for k, v in entry.items() if k != "changes"}
    return {**outer, "entry": [{**inner, "changes": [change]}]}


def _pieces(change: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cut a change into one change per notification item (or none when it has no item lists)."""
    value = change.get("value")
    if not isinstance(value, Mapping):
        return []
    lists = [name for name in _ITEM_LISTS if isinstance(value.get(name), list)]
    if not lists:
        return []
    rest = {k: v for k, v in value.items() if k not in lists}
    return [{**change, "value": {**rest, name: [item]}} for name in lists for item in value[name]]


def split_delivery(document: Mapping[str, Any]) -> list[tuple[WebhookEvent, InboxItem]]:
    """Decode a delivery and cut it into one stored item per event.

    Each change is cut into one notification per item of its ``groups``, ``statuses`` and ``messages`` lists;
    when decoding the pieces does not give exactly the events of the whole change (a shape the cut does not
    fit), the whole change is stored instead, once per event, with the event's position.

    Args:
        document: The decoded JSON body of a verified delivery.

    Returns:
        Each event, in delivery order, with the item that stores it.

    Raises:
        WebhookPayloadError: ``document`` is not a webhook envelope.

    """
    if not isinstance(document, Mapping) or not isinstance(document.get("entry"), list):
        raise WebhookPayloadError("the webhook body is not a JSON object with an 'entry' list")
    pairs: list[tuple[WebhookEvent, InboxItem]] = []
    for entry in document["entry"]:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("changes"), list):
            continue
        for change in entry["changes"]:
            if not isinstance(change, Mapping):
                continue
            whole = _envelope(document, entry, change)
            change_events = parse_webhook(whole)
            pieces = [_envelope(document, entry, piece) for piece in _pieces(change)]
            piece_events = [parse_webhook(piece) for piece in pieces]
            stored: list[tuple[str, int]]
            if len(piece_events) == len(change_events) and all(
                len(found) == 1 and found[0] == event for found, event in zip(piece_events, change_events, strict=False)
            ):
                stored = [(_compact(piece), 0) for piece in pieces]
            else:
                text = _compact(whole)
                stored = [(text, index) for index in range(len(change_events))]
            for event, (notification, index) in zip(change_events, stored, strict=False):
                key = _digest(event) or hashlib.sha256(f"{index}:{notification}".encode()).hexdigest()
                pairs.append((event, InboxItem(key=key, notification=notification, index=index)))
    return pairs


def decode_entry(item: InboxItem) -> WebhookEvent:
    """Decode a stored item back into its event.

    Raises:
        WebhookPayloadError: The stored notification no longer decodes to an event at ``index``.

    """
    events = parse_webhook(item.notification)
    if not 0 <= item.index < len(events):
        raise WebhookPayloadError(f"the stored notification decodes to {len(events)} event(s), not {item.index + 1}")
    return events[item.index]


class Inbox(metaclass=abc.ABCMeta):
    """Where verified events wait for their handler: stored before Meta gets a 200, dropped after success.

    Every method may raise :class:`InboxUnavailableError` when the store cannot be reached. An inbox is opened
    once (``async with inbox`` or :meth:`open`) and closed once; the receiver opens and closes the inbox it is
    given when it starts and stops.
    """

    #: Whether stored events survive the process (``False`` only for :class:`MemoryInbox`).
    durable: bool = True

    async def open(self) -> None:  # noqa: B027 - a hook that most inboxes need and some do not
        """Connect to the store and create what it needs; safe to call twice."""

    async def close(self) -> None:  # noqa: B027
        """Release the store's connections; safe to call twice."""

    async def __aenter__(self) -> Inbox:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def put(self, items: Sequence[InboxItem]) -> list[InboxEntry]:
        """Store the items not seen before, all or none, durably; return the new ones as entries.

        Items whose key was stored before (even long done) are duplicates and are skipped, as is an item whose
        key repeats within ``items``.

        Raises:
            InboxUnavailableError: Nothing was stored.

        """

    @abc.abstractmethod
    async def claim(self, limit: int, *, wait: float = 0.0) -> list[InboxEntry]:
        """Lease up to ``limit`` entries that are due, waiting up to ``wait`` seconds for one to arrive.

        A leased entry is not handed to another claim until :meth:`ack`, :meth:`retry` or :meth:`bury`, or
        until its lease runs out without :meth:`touch` (its worker is presumed dead).
        """

    @abc.abstractmethod
    async def touch(self, entries: Sequence[InboxEntry]) -> None:
        """Renew the leases of entries whose handlers are still running."""

    @abc.abstractmethod
    async def ack(self, entry: InboxEntry) -> None:
        """Mark ``entry`` done: its handler succeeded. Its key is still remembered for deduplication."""

    @abc.abstractmethod
    async def retry(self, entry: InboxEntry, *, delay: float, error: str) -> None:
        """Record a failed attempt and hand ``entry`` out again after ``delay`` seconds."""

    @abc.abstractmethod
    async def bury(self, entry: InboxEntry, *, error: str) -> None:
        """Record the last failed attempt and move ``entry`` to the dead letters."""

    @abc.abstractmethod
    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Return up to ``limit`` dead letters, oldest first."""

    @abc.abstractmethod
    async def replay(self, ids: Sequence[str] | None = None) -> int:
        """Put dead letters back in line with no failed attempts (all when ``ids`` is ``None``); return how many."""

    @abc.abstractmethod
    async def backlog(self) -> int:
        """Return how many entries are stored and not yet done or dead (waiting, leased or due for a retry)."""
