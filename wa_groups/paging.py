"""Async iterators over Graph's cursor-paged listings.

``async for item in paginator`` yields items; ``async for page in paginator.pages()`` yields :class:`Page`
objects whose ``after`` cursor resumes the listing. Paging stops only when the server announces no further
page: a short or empty page with a ``next`` link is not the end. A cursor that comes back twice raises
:class:`~wa_groups.errors.PaginationError` instead of looping forever. Only one page is held at a time.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from .errors import ClientValidationError, PaginationError
from .models import Page

__all__ = ["Paginator"]

T = TypeVar("T")

#: Fetch the page that starts after the given cursor (``None``: the first page).
PageFetcher = Callable[[str | None], Awaitable[Page[T]]]


class Paginator(Generic[T]):
    """An async iterable over every item of a cursor-paged listing."""

    def __init__(self, fetch: PageFetcher[T], *, after: str | None = None, max_items: int | None = None) -> None:
        if after is not None and (not isinstance(after, str) or not after):
            raise ClientValidationError(f"after must be a non-empty cursor string, got {after!r}", argument="after")
        if max_items is not None and (isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0):
            raise ClientValidationError(f"max_items must be an int >= 0, got {max_items!r}", argument="max_items")
        self._fetch = fetch
        self._after = after
        self._max_items = max_items

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncGenerator[T, None]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        """Yield each page in turn; with ``max_items`` the last page is cut to the limit."""
        remaining = self._max_items
        if remaining == 0:
            return
        cursor = self._after
        seen: set[str] = set() if cursor is None else {cursor}
        while True:
            page = await self._fetch(cursor)
            if remaining is not None:
                if len(page.items) >= remaining:
                    yield Page(
                        items=page.items[:remaining], before=page.before, after=page.after, has_next=page.has_next
                    )
                    return
                remaining -= len(page.items)
            yield page
            if not page.has_next:
                return
            cursor = page.after
            if cursor is None:  # the decoder guarantees an 'after' cursor when 'next' is present
                return
            if cursor in seen:
                raise PaginationError(f"the server returned the cursor {cursor[:60]!r} twice; stopping to avoid a loop")
            seen.add(cursor)
