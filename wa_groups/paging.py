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

#: Fetch the page that starts after the given cursor (``None``: the first page), holding at most the given
#: number of items when that is not ``None`` (``max_items`` is near), so that no page needs cutting.
PageFetcher = Callable[[str | None, int | None], Awaitable[Page[T]]]


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
        """Yield each page in turn.

        With ``max_items``, the last request asks for no more than the items still wanted, so every page yielded
        is whole and its ``after`` resumes exactly after it. Should a server send more than asked anyway, the
        page is cut and carries no ``after`` (cursors mark whole pages).
        """
        remaining = self._max_items
        if remaining == 0:
            return
        cursor = self._after
        seen: set[str] = set() if cursor is None else {cursor}
        while True:
            page = await self._fetch(cursor, remaining)
            if remaining is not None:
                if len(page.items) > remaining:
                    # The server sent more than asked: cursors mark whole pages, so a cut page cannot be resumed.
                    yield Page(items=page.items[:remaining], before=page.before, after=None, has_next=False)
                    return
                remaining -= len(page.items)
                if remaining == 0:
                    yield page
                    return
            yield page
            if not page.has_next:
                return
            cursor = page.after
            if cursor is None:  # the decoder guarantees an 'after' cursor when 'next' is present
                return
            if cursor in seen:
                raise PaginationError(f"the server returned the cursor {cursor[:60]!r} twice; stopping to avoid a loop")
            seen.add(cursor)
