"""The scenario of ``wa-groups demo``: a fake Graph API seeded with many groups and join requests.

Some groups are nearly full and a few are suspended, so part of the join requests cannot be approved: the demo
shows failures (#131204 Participant limit reached, #131207 Group suspended) next to successes, and
:meth:`DemoServer.check` reads back from the server what the job did.
"""

from __future__ import annotations

import random

import attrs

from ..client import GroupsClient
from ._graph import FakeGraphAPI

__all__ = ["DemoSeed", "DemoServer", "ServerCheck"]


@attrs.frozen(kw_only=True)
class DemoSeed:
    """What the demo server was seeded with."""

    crowded: int
    """Groups seeded nearly full."""
    suspended: int
    """Groups seeded suspended (every write to them fails)."""
    fits: int
    """Join requests there is room for: the most that can be approved."""
    groups: int
    """Groups seeded."""
    join_requests: int
    """Join requests seeded."""


@attrs.frozen(kw_only=True)
class ServerCheck:
    """What the server saw since :meth:`DemoServer.start_counting`."""

    http_requests: int
    """Requests the server answered."""
    approved: int
    """Join requests approved."""
    sent_twice: int
    """Join request ids a client sent more than once."""
    still_pending: int
    """Join requests still open."""


class DemoServer:
    """A fake Graph API on 127.0.0.1 seeded for the demo; use it with ``async with``.

    Args:
        groups: Groups to seed.
        requests: Join requests to spread at random over the groups.
        latency: Seconds the server waits before each answer.
        seed: Seed of the generated data, so two runs with the same seed see the same groups.

    """

    def __init__(self, *, groups: int, requests: int, latency: float = 0.0, seed: int = 0) -> None:
        self._groups = groups
        self._requests = requests
        self._seed = seed
        self._fake = FakeGraphAPI(latency=latency, max_groups=max(10_000, groups), record_requests=False, seed=seed)
        self._seeded: DemoSeed | None = None

    @property
    def base_url(self) -> str:
        """Return the server's root URL."""
        return self._fake.base_url

    @property
    def max_participants(self) -> int:
        """Return how many participants a group holds at most."""
        return self._fake.max_participants

    @property
    def seeded(self) -> DemoSeed:
        """Return what the server was seeded with (once started)."""
        if self._seeded is None:
            raise RuntimeError("the demo server is not started")
        return self._seeded

    async def start(self) -> None:
        """Start the server and seed it."""
        await self._fake.start()
        self._seeded = self._seed_groups(random.Random(self._seed))

    async def close(self) -> None:
        """Stop the server; safe to call more than once."""
        await self._fake.close()

    async def __aenter__(self) -> DemoServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def client(self) -> GroupsClient:
        """Return a client pointed at the server."""
        return self._fake.client()

    def start_counting(self) -> None:
        """Zero the request counters, so :meth:`check` counts only what follows."""
        self._fake.reset_stats()

    def check(self) -> ServerCheck:
        """Return what the server saw: requests, approvals, ids sent twice, requests still open."""
        fake = self._fake
        return ServerCheck(
            http_requests=fake.stats.requests,
            approved=sum(fake.approved.values()),
            sent_twice=sum(1 for times in fake.join_request_sends.values() if times > 1),
            still_pending=sum(len(group.join_requests) for group in fake.groups.values()),
        )

    def _seed_groups(self, rng: random.Random) -> DemoSeed:
        """Add the groups, some nearly full and a few suspended, and spread the join requests at random."""
        fake, groups = self._fake, self._groups
        group_ids = fake.add_groups(groups, "Demo group")
        capacity = fake.max_participants
        serial = crowded = suspended = 0
        rooms: list[int] = []
        for index, group_id in enumerate(group_ids):
            group = fake.groups[group_id]
            if groups >= 10 and index % 100 == 7:
                group.suspended = True
                suspended += 1
            members = rng.randint(capacity - 2, capacity) if rng.random() < 0.1 else 0
            crowded += members > 0
            for _ in range(members):
                serial += 1
                group.participants.append(f"1555{serial:07d}")
            rooms.append(0 if group.suspended else capacity - members)
        counts = [0] * groups
        for _ in range(self._requests):
            counts[rng.randrange(groups)] += 1
        fits = 0
        for group_id, count, room in zip(group_ids, counts, rooms, strict=True):
            if count:
                fake.add_join_requests(group_id, count)
            fits += min(count, room)
        return DemoSeed(crowded=crowded, suspended=suspended, fits=fits, groups=groups, join_requests=self._requests)
