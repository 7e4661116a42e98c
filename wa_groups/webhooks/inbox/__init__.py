"""Durable inboxes for webhook events: store before answering 200, handle at least once, dead-letter failures.

* :class:`MemoryInbox`: the default; fast, bounded, and **loses events on restart**.
* :class:`SqliteInbox`: one SQLite file, for one receiver process.
* :class:`RedisInbox`: Redis Streams with a consumer group, for several receiver replicas (needs the
  ``wa-groups[redis]`` extra).

:class:`InboxWorker` runs a handler on an inbox's events; the receiver runs one for its handler.
"""

from __future__ import annotations

import os
from typing import Any

from ._base import (
    DeadLetter,
    Inbox,
    InboxEntry,
    InboxFullError,
    InboxItem,
    InboxUnavailableError,
    decode_entry,
    split_delivery,
)
from ._memory import DEFAULT_MEMORY_CAPACITY, MemoryInbox
from ._redis import RedisInbox
from ._sqlite import SqliteInbox
from ._worker import HandlerRetry, InboxWorker

__all__ = [
    "DEFAULT_MEMORY_CAPACITY",
    "DeadLetter",
    "HandlerRetry",
    "Inbox",
    "InboxEntry",
    "InboxFullError",
    "InboxItem",
    "InboxUnavailableError",
    "InboxWorker",
    "MemoryInbox",
    "RedisInbox",
    "SqliteInbox",
    "decode_entry",
    "open_inbox",
    "split_delivery",
]


def open_inbox(spec: Inbox | str | os.PathLike[str], **options: Any) -> Inbox:
    """Return the inbox ``spec`` names: an :class:`Inbox` as is, ``redis://``/``rediss://`` URL, else a file.

    Args:
        spec: An inbox, a Redis URL (a :class:`RedisInbox`) or the path of a SQLite file (a :class:`SqliteInbox`).
        options: Keyword arguments for the inbox created from a URL or path.

    """
    if isinstance(spec, Inbox):
        return spec
    text = os.fspath(spec)
    if text.startswith(("redis://", "rediss://", "unix://")):
        return RedisInbox(text, **options)
    return SqliteInbox(text, **options)
