"""The containers the fakes keep their objects in.

:class:`IndexedDict` is an insertion-ordered mapping with cursor paging; :class:`MemberList` a list of user ids
that answers ``in`` without a scan.
"""

from __future__ import annotations

import collections
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    ValuesView,
)
from typing import TYPE_CHECKING, Any, Final, Generic, SupportsIndex, TypeVar, overload

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["IndexedDict", "MemberList"]

K = TypeVar("K")
T = TypeVar("T")
V = TypeVar("V")


class _Tombstone:
    __slots__ = ()


_TOMB: Final = _Tombstone()


class IndexedDict(MutableMapping[K, V], Generic[K, V]):
    """An insertion-ordered mapping with an O(1) key-to-position index for cursor paging.

    Deleting a key leaves a tombstone in the order list; tombstones are compacted once they
    outnumber live keys, so paging after a cursor stays proportional to the page size.
    """

    __slots__ = ("_data", "_dead", "_head", "_keys", "_pos")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._data: dict[K, V] = {}
        self._keys: list[K | _Tombstone] = []
        self._pos: dict[K, int] = {}
        self._dead = 0
        self._head = 0
        if items:
            for key, value in items.items():
                self[key] = value

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __setitem__(self, key: K, value: V) -> None:
        if key not in self._data:
            self._pos[key] = len(self._keys)
            self._keys.append(key)
        self._data[key] = value

    def __delitem__(self, key: K) -> None:
        del self._data[key]
        self._keys[self._pos.pop(key)] = _TOMB
        self._dead += 1
        if self._dead > 64 and self._dead * 2 > len(self._keys):
            self._compact()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"IndexedDict({self._data!r})"

    @overload
    def get(self, key: K, /) -> V | None: ...

    @overload
    def get(self, key: K, default: V | T, /) -> V | T: ...

    def get(self, key: K, default: Any = None, /) -> Any:
        """Return the value for ``key``, or ``default`` when it is absent."""
        return self._data.get(key, default)

    def keys(self) -> KeysView[K]:
        """Return a view of the keys in insertion order."""
        return self._data.keys()

    def values(self) -> ValuesView[V]:
        """Return a view of the values in insertion order."""
        return self._data.values()

    def items(self) -> ItemsView[K, V]:
        """Return a view of the items in insertion order."""
        return self._data.items()

    def clear(self) -> None:
        """Remove every item."""
        self._data.clear()
        self._keys.clear()
        self._pos.clear()
        self._dead = 0
        self._head = 0

    def _compact(self) -> None:
        keys = list(self._data)
        self._pos = {key: index for index, key in enumerate(keys)}
        self._keys = list(keys)
        self._dead = 0
        self._head = 0

    def page(
        self,
        *,
        limit: int,
        after: K | None = None,
        before: K | None = None,
        where: Callable[[V], bool] | None = None,
    ) -> tuple[list[tuple[K, V]], bool]:
        """Return up to ``limit`` items after (or before) a key, and whether more follow the page.

        Without ``after`` or ``before`` the page starts at the first item. ``where`` filters values.

        Raises:
            KeyError: ``after`` or ``before`` is not (or no longer) a key of the mapping.

        """
        keys = self._keys
        found: list[tuple[K, V]] = []
        if before is not None:
            index = self._pos[before] - 1
            while index >= 0 and len(found) < limit:
                key = keys[index]
                index -= 1
                if isinstance(key, _Tombstone):
                    continue
                value = self._data[key]
                if where is None or where(value):
                    found.append((key, value))
            found.reverse()
            # The item ``before`` points at still exists, so there is always more after this page.
            return found, True
        if after is not None:
            index = self._pos[after] + 1
        else:
            while self._head < len(keys) and isinstance(keys[self._head], _Tombstone):
                self._head += 1
            index = self._head
        end = len(keys)
        while index < end and len(found) <= limit:
            key = keys[index]
            index += 1
            if isinstance(key, _Tombstone):
                continue
            value = self._data[key]
            if where is None or where(value):
                found.append((key, value))
        more = len(found) > limit
        return found[:limit], more


class MemberList(list[str]):
    """A list of user ids that answers ``id in members`` in O(1).

    A group's participants are kept in one, so that approving join requests does not build a set of the whole
    group on every call. It is a real list (tests assign, append, slice, sort and compare it as one), and every
    method that changes its items keeps a count of each id in step; copies and slices are plain lists.
    """

    __slots__ = ("_counts",)

    _counts: collections.Counter[str]

    def __init__(self, items: Iterable[str] = ()) -> None:
        super().__init__(items)
        self._counts = collections.Counter(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduction of a list subclass restores the slots and then appends the items again, which
        # would count every id twice (and share the counter with the original on a shallow copy).
        return (type(self), (list(self),))

    def __contains__(self, item: object) -> bool:
        try:
            return item in self._counts
        except TypeError:  # an unhashable value is in no list of ids
            return False

    def _count(self, items: Iterable[str]) -> None:
        self._counts.update(items)

    def _uncount(self, items: Iterable[str]) -> None:
        counts = self._counts
        for item in items:
            counts[item] -= 1
            if counts[item] <= 0:
                del counts[item]

    def append(self, item: str, /) -> None:
        """Append an id."""
        super().append(item)
        self._counts[item] += 1

    def extend(self, items: Iterable[str], /) -> None:
        """Append every id of ``items``."""
        added = list(items)
        super().extend(added)
        self._count(added)

    def insert(self, index: SupportsIndex, item: str, /) -> None:
        """Insert an id before ``index``."""
        super().insert(index, item)
        self._counts[item] += 1

    def remove(self, item: str, /) -> None:
        """Remove the first occurrence of an id (``ValueError`` when it is absent)."""
        super().remove(item)
        self._uncount((item,))

    def pop(self, index: SupportsIndex = -1, /) -> str:
        """Remove and return the id at ``index`` (the last one by default)."""
        item = super().pop(index)
        self._uncount((item,))
        return item

    def clear(self) -> None:
        """Remove every id."""
        super().clear()
        self._counts.clear()

    @overload
    def __setitem__(self, index: SupportsIndex, item: str, /) -> None: ...

    @overload
    def __setitem__(self, index: slice, items: Iterable[str], /) -> None: ...

    def __setitem__(self, index: SupportsIndex | slice, value: Any, /) -> None:
        if isinstance(index, slice):
            new = list(value)
            old = self[index]
            super().__setitem__(index, new)
            self._uncount(old)
            self._count(new)
            return
        previous = self[index]
        super().__setitem__(index, value)
        self._uncount((previous,))
        self._counts[value] += 1

    def __delitem__(self, index: SupportsIndex | slice, /) -> None:
        old = self[index] if isinstance(index, slice) else [self[index]]
        super().__delitem__(index)
        self._uncount(old)

    def __iadd__(self, items: Iterable[str], /) -> Self:  # type: ignore[override,misc]
        self.extend(items)
        return self

    def __imul__(self, times: SupportsIndex, /) -> Self:
        super().__imul__(times)
        self._counts = collections.Counter(self)
        return self
