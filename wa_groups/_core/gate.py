"""How a bulk job's admission control reaches the transport, with no import of the bulk package (pure).

The transport reads :data:`current_gate` once per request. A bulk job sets it in its own tasks to an object that
follows :class:`RequestGate` (``wa_groups.bulk`` has the one implementation), so client methods need no extra
parameter and single calls pay one context-variable lookup.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from typing import Protocol

from ..errors import WAGroupsError

__all__ = ["RequestGate", "RequestWithheld", "ambiguity_note", "current_gate"]


class RequestWithheld(WAGroupsError):
    """Raised by a request gate that will not send a request (its bulk job has stopped)."""


class RequestGate(Protocol):
    """Admission control shared by the requests of one bulk job.

    The transport holds ``gate.slot()`` while a request is on the wire and calls ``gate.throttle(wait)`` instead
    of sleeping when the server asks to slow down, so the whole job pauses once.
    """

    #: Throttled answers that name no wait are retried at the job's pace without using up the retry policy's
    #: attempts, up to this many times ``max_attempts`` for one request.
    paced_retries_per_attempt: int

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Return a context manager held while one request is on the wire."""

    async def throttle(self, seconds: float, demanded: bool = False) -> None:
        """Slow the job down after a throttled answer.

        ``demanded`` is True when the server said how long to wait (``seconds``): the job then pauses once for
        that long, however many requests ask. Otherwise the gate chooses its own pace.
        """


#: When set (by a bulk batch), failures that may have taken effect before a retry are appended to this list,
#: so the batch can read a later "does not exist" as the effect of the earlier attempt.
ambiguity_note: ContextVar[list[WAGroupsError] | None] = ContextVar("wa_groups_ambiguity_note", default=None)

#: The gate of the bulk job the current task belongs to, if any.
current_gate: ContextVar[RequestGate | None] = ContextVar("wa_groups_request_gate", default=None)
