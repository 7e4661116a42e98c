"""pytest plugin of wa_groups: the ``fake_graph`` and ``fake_wuts`` fixtures.

Installed packages register it through the ``pytest11`` entry point. The fixture needs
pytest-asyncio; without it the plugin defines nothing, so a project's pytest keeps working.

Configure the fake for one test with the ``fake_graph`` marker, whose keyword arguments go to
:class:`~wa_groups.testing.FakeGraphAPI`::

    @pytest.mark.fake_graph(latency=0.01, max_groups=20)
    async def test_limits(fake_graph): ...

The ``fake_wuts`` fixture and marker do the same for :class:`~wa_groups.testing.FakeWutsAPI`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from wa_groups.testing._graph import FakeGraphAPI
from wa_groups.testing._wuts import FakeWutsAPI

__all__ = ["pytest_configure"]

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - depends on the user's environment
    _HAVE_PYTEST_ASYNCIO = False
else:
    _HAVE_PYTEST_ASYNCIO = True


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``fake_graph`` and ``fake_wuts`` markers."""
    config.addinivalue_line(
        "markers", "fake_graph(**options): keyword arguments for the FakeGraphAPI behind the fake_graph fixture"
    )
    config.addinivalue_line(
        "markers", "fake_wuts(**options): keyword arguments for the FakeWutsAPI behind the fake_wuts fixture"
    )


if _HAVE_PYTEST_ASYNCIO:

    @pytest_asyncio.fixture
    async def fake_graph(request: pytest.FixtureRequest) -> AsyncIterator[FakeGraphAPI]:
        """Yield a started :class:`~wa_groups.testing.FakeGraphAPI`, closed after the test."""
        marker = request.node.get_closest_marker("fake_graph")
        options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
        async with FakeGraphAPI(**options) as fake:
            yield fake

    @pytest_asyncio.fixture
    async def fake_wuts(request: pytest.FixtureRequest) -> AsyncIterator[FakeWutsAPI]:
        """Yield a started :class:`~wa_groups.testing.FakeWutsAPI`, closed after the test."""
        marker = request.node.get_closest_marker("fake_wuts")
        options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
        async with FakeWutsAPI(**options) as fake:
            yield fake

    __all__ += ["fake_graph", "fake_wuts"]
