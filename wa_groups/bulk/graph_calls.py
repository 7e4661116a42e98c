"""What the Graph bulk jobs call: the client methods they need, their operation names, the Graph codes they read.

The jobs need only the few client methods of :class:`GraphCalls` (:class:`~wa_groups.GroupsClient` has them), so
the bulk package never imports the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from .._core.retry import RetryPolicy
from ..models import JoinRequestsResult

if TYPE_CHECKING:
    from ..models import GroupInfo, GroupSummary, JoinRequest
    from ..paging import Paginator

__all__ = ["ACTION_NAMES", "ALREADY_IN", "GONE", "NOT_IN", "STREAM_PAGE_SIZE", "GraphCalls"]

#: Page size used when a bulk job streams a listing.
STREAM_PAGE_SIZE = 1024


class GraphCalls(Protocol):
    """The client methods the Graph bulk jobs call (:class:`~wa_groups.GroupsClient` has them)."""

    @property
    def retry_policy(self) -> RetryPolicy:
        """The client's retry policy (its sleep paces the job)."""

    async def approve_join_requests(self, group_id: str, join_request_ids: Sequence[str]) -> JoinRequestsResult:
        """Approve up to 8 join requests."""

    async def reject_join_requests(self, group_id: str, join_request_ids: Sequence[str]) -> JoinRequestsResult:
        """Reject up to 8 join requests."""

    async def add_participants(self, group_id: str, users: Sequence[str]) -> object:
        """Add up to 8 participants."""

    async def remove_participants(self, group_id: str, users: Sequence[str]) -> object:
        """Remove up to 8 participants."""

    async def get_group(self, group_id: str, *, fields: Iterable[str] | None = None) -> GroupInfo:
        """Return a group's metadata (the jobs ask for its participants to settle uncertain outcomes)."""

    def iter_join_requests(self, group_id: str, *, page_size: int | None = None) -> Paginator[JoinRequest]:
        """Stream a group's open join requests (``.pages()`` page by page)."""

    def iter_groups(
        self, *, page_size: int | None = None, phone_number_id: str | None = None
    ) -> AsyncIterable[GroupSummary]:
        """Stream the active groups."""


ACTION_NAMES: dict[str, str] = {
    "approve": "approve_join_requests",
    "reject": "reject_join_requests",
    "add": "add_participants",
    "remove": "remove_participants",
}


#: Graph's code for a join request that does not exist (any more).
GONE = 131213
#: Graph's codes for a participant already in the group (add) and not in it (remove).
ALREADY_IN = 131202
NOT_IN = 131212
