"""Run a fake server on its own event loop in a daemon thread.

Code that starts its own event loop (``wa_groups.cli.main`` runs ``asyncio.run``, so do scripts and child
processes) cannot share the loop of a test; a :class:`ThreadedFake` serves from a loop of its own instead::

    with ThreadedFake(FakeGraphAPI) as server:
        os.environ["WA_BASE_URL"] = server.base_url
        group_id = server.call(server.fake.add_group, "Book club")
        main(["groups", "show", group_id])
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["FakeServerLike", "ThreadedFake"]

T = TypeVar("T")


class FakeServerLike(Protocol):
    """What :class:`ThreadedFake` needs of a server: FakeGraphAPI and FakeWutsAPI both have it."""

    @property
    def base_url(self) -> str:
        """Return the root URL of the running server."""
        ...

    async def start(self) -> None:
        """Start listening."""

    async def close(self) -> None:
        """Stop listening."""


ServerT = TypeVar("ServerT", bound=FakeServerLike)


class ThreadedFake(Generic[ServerT]):
    """A fake server serving from its own event loop in a daemon thread.

    The server is built by ``factory`` on that loop (``FakeGraphAPI``, ``FakeWutsAPI``, or a
    ``functools.partial`` of either with options). Its state belongs to that loop: change or read it with
    :meth:`call` (plain functions) or :meth:`run` (coroutines), which wait for the answer.

    Args:
        factory: Builds the server; called on the server's loop.
        timeout: Seconds to wait for any call made on the server's loop.

    """

    def __init__(self, factory: Callable[[], ServerT], *, timeout: float = 60.0) -> None:
        self._factory = factory
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._fake: ServerT | None = None

    @property
    def fake(self) -> ServerT:
        """Return the running server."""
        if self._fake is None:
            raise RuntimeError("the threaded fake is not started: call start() or use 'with'")
        return self._fake

    @property
    def base_url(self) -> str:
        """Return the root URL of the running server."""
        return self.fake.base_url

    def start(self) -> ThreadedFake[ServerT]:
        """Start the loop's thread, then build and start the server on it; return ``self``."""
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="wa-groups-fake", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread

        async def build() -> ServerT:
            server = self._factory()
            await server.start()
            return server

        try:
            self._fake = self.run(build())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close the server, stop the loop and join its thread; safe to call more than once."""
        loop, thread, fake = self._loop, self._thread, self._fake
        if loop is None or thread is None:
            return
        try:
            if fake is not None:
                self.run(fake.close())
            self.run(loop.shutdown_asyncgens())
        finally:
            self._fake = None
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=self.timeout)
            loop.close()
            self._loop = self._thread = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop and return its result."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("the threaded fake is not started: call start() or use 'with'")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=self.timeout)

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a plain function on the server's loop (where its state is touched) and return its result."""

        async def invoke() -> T:
            return function(*args, **kwargs)

        return self.run(invoke())

    def __enter__(self) -> ThreadedFake[ServerT]:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
