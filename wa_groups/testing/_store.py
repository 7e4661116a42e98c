"""The insertion-ordered mapping the fakes keep their objects in, and cursor paging over it."""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, MutableMapping, ValuesView
from typing import Any, Final, Generic, TypeVar, overload

__all__ = ["IndexedDict"]

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
