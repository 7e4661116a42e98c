"""A seeded fake server to point the ``wa-groups`` command (or any program) at: what ``wa-groups fake serve`` runs.

:class:`SeededFake` starts a :class:`~wa_groups.testing.FakeGraphAPI` (or a :class:`~wa_groups.testing.FakeWutsAPI`)
on 127.0.0.1, on a chosen port or a free one, seeds it with groups and open join requests, and says which
environment variables point a client at it::

    async with SeededFake(groups=12, join_requests=40) as served:
        print(served.export_lines())   # export WA_BASE_URL=http://127.0.0.1:... WA_ACCESS_TOKEN=... ...

The first group is always "Book club": it asks for approval to join, has two participants and some of the join
requests, so every command of the documentation has something to act on. The data is the same for the same
``seed``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shlex
import sys
from collections.abc import Sequence
from typing import Literal

from wa_groups.testing._graph import FakeGraphAPI
from wa_groups.testing._server import FakeServer
from wa_groups.testing._wuts import FakeWutsAPI

__all__ = ["EXAMPLE_GROUP", "SeededFake", "main", "sample_picture"]

#: The subject of the first seeded group, the one the examples act on.
EXAMPLE_GROUP = "Book club"
#: Open join requests the example group gets (when there are that many).
_EXAMPLE_REQUESTS = 4


class SeededFake:
    """A fake API server on 127.0.0.1 seeded with groups (and, on Graph, open join requests).

    Args:
        backend: ``"graph"`` (a fake Graph API) or ``"wuts"`` (a fake WUTS gateway).
        port: Port to listen on; 0 picks a free one.
        groups: Groups to seed (at least 1: the example group).
        join_requests: Open join requests to spread over the groups (Graph only).
        latency: Seconds the server waits before each answer.
        webhook_url: Where the fake Graph API POSTs its webhooks (Graph only).
        app_secret: The secret that signs those webhooks (Graph only).
        seed: Seed of the generated data.

    """

    def __init__(
        self,
        *,
        backend: Literal["graph", "wuts"] = "graph",
        port: int = 0,
        groups: int = 12,
        join_requests: int = 40,
        latency: float = 0.0,
        webhook_url: str | None = None,
        app_secret: str | None = None,
        seed: int = 0,
    ) -> None:
        if groups < 1:
            raise ValueError("groups must be at least 1")
        if join_requests < 0:
            raise ValueError("join_requests must not be negative")
        self.backend = backend
        self._groups = groups
        self._requests = join_requests
        self._seed = seed
        self.example_ids: dict[str, str] = {}
        """Variables naming seeded items for the examples: ``GROUP_ID`` and, on Graph, ``JOIN_REQUEST_ID``."""
        self.server: FakeServer
        """The running fake."""
        if backend == "graph":
            self.server = FakeGraphAPI(
                latency=latency,
                max_groups=max(10_000, groups),
                webhook_url=webhook_url,
                app_secret=app_secret,
                record_requests=False,
                seed=seed,
            )
        else:
            self.server = FakeWutsAPI(latency=latency, record_requests=False, seed=seed)
        self.server.port = port

    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:<port>`` of the running server."""
        return self.server.base_url

    def environment(self) -> dict[str, str]:
        """Return the variables that point the ``wa-groups`` command at the server, in the order to print them."""
        server = self.server
        if isinstance(server, FakeGraphAPI):
            return {
                "WA_BASE_URL": server.base_url,
                "WA_ACCESS_TOKEN": server.access_token,
                "WA_PHONE_NUMBER_ID": server.phone_number_id,
            }
        assert isinstance(server, FakeWutsAPI)
        return {"WA_BACKEND": "wuts", "WUTS_BASE_URL": server.base_url, "WUTS_TOKEN": server.token}

    def export_lines(self) -> str:
        """Return the shell lines to paste: the environment, then the ids the examples use."""
        lines = [_export(self.environment())]
        if self.example_ids:
            lines.append(_export(self.example_ids))
        return "\n".join(lines)

    def summary(self) -> str:
        """Return what was seeded, in a few words."""
        text = f"{self._groups:,} group{'s' if self._groups != 1 else ''}"
        if self.backend == "graph":
            text += f" and {self._requests:,} open join request{'s' if self._requests != 1 else ''}"
        return text

    async def start(self) -> None:
        """Start the server and seed it.

        Raises:
            OSError: The port is in use.

        """
        await self.server.start()
        rng = random.Random(self._seed)
        if isinstance(self.server, FakeGraphAPI):
            self._seed_graph(self.server, rng)
        else:
            assert isinstance(self.server, FakeWutsAPI)
            self._seed_wuts(self.server)

    async def close(self) -> None:
        """Stop the server; safe to call more than once."""
        await self.server.close()

    async def __aenter__(self) -> SeededFake:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _seed_graph(self, fake: FakeGraphAPI, rng: random.Random) -> None:
        example = fake.add_group(
            EXAMPLE_GROUP,
            description="One book a month",
            join_approval_mode="approval_required",
            participants=["+1 555 0100", "+1 555 0101"],
        )
        others = fake.add_groups(self._groups - 1, "Running club") if self._groups > 1 else []
        first = min(_EXAMPLE_REQUESTS, self._requests)
        requests = fake.add_join_requests(example, first) if first else []
        counts = [0] * len(others)
        for _ in range(self._requests - first if others else 0):
            counts[rng.randrange(len(others))] += 1
        for group_id, count in zip(others, counts, strict=True):
            if count:
                fake.add_join_requests(group_id, count)
        if not others and self._requests > first:
            fake.add_join_requests(example, self._requests - first)
        self.example_ids = {"GROUP_ID": example}
        if requests:
            self.example_ids["JOIN_REQUEST_ID"] = requests[0]

    def _seed_wuts(self, fake: FakeWutsAPI) -> None:
        example = fake.add_group(EXAMPLE_GROUP, participants=["+55 11 91234-0001", "+55 11 91234-0002"])
        for number in range(1, self._groups):
            fake.add_group(f"Running club {number}", participants=[f"+55 11 9{number:04d}-0000"])
        self.example_ids = {"GROUP_ID": example}


def _export(variables: dict[str, str]) -> str:
    return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in variables.items())


def sample_picture(side: int = 192) -> bytes:
    """Return the smallest JPEG the fakes (and the library's checks) take as a square ``side`` pixels picture.

    It holds the JPEG markers and a frame header only: enough to try ``groups picture``, not an image to view.
    """
    if not 1 <= side <= 65535:
        raise ValueError("side must be 1..65535")
    size = side.to_bytes(2, "big")
    # Start of image; a baseline frame header (length 17, 8 bits, height, width, 3 components); end of image.
    frame = b"\xff\xc0\x00\x11\x08" + size + size + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + frame + b"\xff\xd9"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m wa_groups.testing``: a seeded fake in the foreground until Ctrl-C (``wa-groups fake serve``).

    The ``wa-groups fake serve`` command does the same with the command's options and help; this entry point
    needs nothing but the testing package.
    """
    parser = argparse.ArgumentParser(
        prog="python -m wa_groups.testing",
        description="Run a seeded fake Graph API (or WUTS gateway) on 127.0.0.1 until Ctrl-C; "
        "'wa-groups fake serve' does the same.",
    )
    parser.add_argument("--backend", choices=("graph", "wuts"), default="graph")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (default)")
    parser.add_argument("--groups", type=int, default=12)
    parser.add_argument("--join-requests", type=int, default=40)
    args = parser.parse_args(argv)

    async def serve() -> None:
        async with SeededFake(
            backend=args.backend, port=args.port, groups=args.groups, join_requests=args.join_requests
        ) as served:
            print(f"Fake on {served.base_url} with {served.summary()}; Ctrl-C stops it.", file=sys.stderr)
            print(served.export_lines(), flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as error:
        print(f"python -m wa_groups.testing: error: {error}", file=sys.stderr)
        return 2
    return 0
