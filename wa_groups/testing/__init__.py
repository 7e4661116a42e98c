"""A fake Graph API server for testing applications built on wa_groups.

``async with FakeGraphAPI() as fake:`` serves the WhatsApp Groups endpoints on 127.0.0.1 with
in-memory state, scripted faults, a rate limiter and signed webhooks. With pytest and
pytest-asyncio installed, the ``fake_graph`` fixture gives each test a running fake.
"""

from wa_groups.testing._faults import Fault, RecordedRequest, ServerStats
from wa_groups.testing._graph import FakeGraphAPI, FakeGroup, FakeJoinRequest
from wa_groups.testing._store import IndexedDict
from wa_groups.testing._wuts import FakeWutsAPI, WutsFault
from wa_groups.testing.threaded import ThreadedFake

__all__ = [
    "FakeGraphAPI",
    "FakeGroup",
    "FakeJoinRequest",
    "FakeWutsAPI",
    "Fault",
    "IndexedDict",
    "RecordedRequest",
    "ServerStats",
    "ThreadedFake",
    "WutsFault",
]
