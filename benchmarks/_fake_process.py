"""A ``FakeGraphAPI`` in a child process, so the fake's CPU time is not spent on the client's core.

The parent starts a Python process running :func:`main` (``--latency S``); the child serves on 127.0.0.1, prints one
JSON line (base URL, token, phone number id, API version) and then answers JSON commands, one per line on its
standard input: ``{"op": "group"}`` returns a new group id, ``{"op": "join_requests", "group": id, "count": n}``
seeds ``n`` open join requests (from 8 users cycling) and returns their ids, ``{"op": "exit"}`` stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from wa_groups import GroupsClient
from wa_groups.testing import FakeGraphAPI

from ._common import member_pool

#: The repository root, put on the child's import path so it finds this package.
_REPO = str(Path(__file__).resolve().parent.parent)
#: Seeding answers can hold 100,000 ids on one line.
_LINE_LIMIT = 64 * 1024 * 1024


class FakeProcess:
    """The parent's handle on a child-process fake; has ``base_url``, ``access_token`` and ``api_version``."""

    def __init__(self, *, latency: float, max_participants: int) -> None:
        self._args = ["--latency", str(latency), "--max-participants", str(max_participants)]
        self._process: asyncio.subprocess.Process | None = None
        self.base_url = ""
        self.access_token = ""
        self.phone_number_id = ""
        self.api_version = ""

    async def __aenter__(self) -> FakeProcess:
        root = _REPO
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from benchmarks._fake_process import main; main()",
            *self._args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
            cwd=root,
            env={**os.environ, "PYTHONPATH": path},
        )
        hello = await self._read()
        self.base_url, self.access_token = hello["base_url"], hello["access_token"]
        self.phone_number_id, self.api_version = hello["phone_number_id"], hello["api_version"]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ConnectionError, EOFError):
            await self.call("exit")
        try:
            await asyncio.wait_for(process.wait(), 10)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()

    async def _read(self) -> Any:
        assert self._process is not None and self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            raise EOFError("the fake's process ended")
        return json.loads(line)

    async def call(self, op: str, **arguments: Any) -> Any:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(json.dumps({"op": op, **arguments}).encode() + b"\n")
        await self._process.stdin.drain()
        return await self._read()

    def client(self) -> GroupsClient:
        return GroupsClient(
            self.access_token,
            phone_number_id=self.phone_number_id,
            base_url=self.base_url,
            api_version=self.api_version,
        )


async def _serve(latency: float, max_participants: int) -> None:
    async with FakeGraphAPI(record_requests=False, latency=latency, max_participants=max_participants) as fake:
        hello = {
            "base_url": fake.base_url,
            "access_token": fake.access_token,
            "phone_number_id": fake.phone_number_id,
            "api_version": fake.api_version,
        }
        print(json.dumps(hello), flush=True)
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            command = json.loads(line)
            op = command["op"]
            answer: Any
            if op == "group":
                answer = fake.add_groups(1)[0]
            elif op == "join_requests":
                count = int(command["count"])
                answer = fake.add_join_requests(command["group"], count, member_pool(count))
            elif op == "exit":
                print(json.dumps(None), flush=True)
                return
            else:
                answer = {"error": f"unknown op {op!r}"}
            print(json.dumps(answer), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="benchmarks._fake_process")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--max-participants", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(_serve(args.latency, args.max_participants))


if __name__ == "__main__":
    main()
