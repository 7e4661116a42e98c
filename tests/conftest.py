"""Shared fixtures: clients of the shipped ``fake_graph`` fixture whose retry waits are recorded, not slept."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from wa_groups import GroupsClient, RetryPolicy
from wa_groups.testing import FakeGraphAPI
from wa_groups.webhooks import RedactedAccessLogger

REPO = Path(__file__).resolve().parent.parent


def reference_dir() -> Path:
    """Return where Meta's reference files are (``WA_GROUPS_REFERENCE_DIR`` or ``../shared/reference``)."""
    return Path(os.environ.get("WA_GROUPS_REFERENCE_DIR", REPO.parent / "shared" / "reference"))


def reference_missing(reason: str) -> None:
    """Skip a test whose reference file is absent; in CI, where the files are always beside the clone, fail."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the checks against Meta's files)")
    pytest.skip(reason)


class SleepRecorder:
    """An injectable sleep that records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def policy(sleeps: SleepRecorder) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps)


@pytest.fixture
def fake(fake_graph: FakeGraphAPI) -> FakeGraphAPI:
    """The shipped ``fake_graph`` fixture (``wa_groups.testing.pytest_plugin``) under the tests' short name."""
    return fake_graph


@pytest.fixture
async def client(fake_graph: FakeGraphAPI, policy: RetryPolicy) -> AsyncIterator[GroupsClient]:
    async with fake_graph.client(retry=policy) as groups_client:
        yield groups_client


@asynccontextmanager
async def serving(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    seen: list[str],
    describe: Callable[[web.Request], str] = lambda request: request.path_qs,
) -> AsyncIterator[str]:
    """Serve ``handler`` for every path on 127.0.0.1 port 0 (a server that is not the fake), recording each
    request in ``seen`` as ``describe`` spells it (its path and query by default)."""

    async def recording(request: web.Request) -> web.StreamResponse:
        seen.append(describe(request))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recording)
    runner = web.AppRunner(app, access_log_class=RedactedAccessLogger, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
