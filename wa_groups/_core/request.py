"""Backend-neutral request values: endpoint tables and ready-to-send requests (pure, no I/O).

Every backend (the Graph API in ``wa_groups._graph``, the WUTS gateway in ``wa_groups.wuts._protocol``) describes
its operations as a table of :class:`Endpoint` objects and turns them into :class:`Request` objects with
:func:`build_request`; :class:`wa_groups._core.transport.Transport` sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Endpoint", "FilePart", "Request", "build_request", "endpoint_table"]


@attrs.frozen
class Endpoint:
    """One operation: method, path template and whether repeating it after an ambiguous failure is safe."""

    method: str
    path: str
    repeatable: bool


@attrs.frozen(kw_only=True)
class FilePart:
    """A file sent in a multipart body."""

    name: str
    filename: str
    content_type: str
    data: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


@attrs.frozen(kw_only=True)
class Request:
    """A request ready to send: the path is relative to the backend's API root."""

    operation: str
    method: str
    path: str
    repeatable: bool
    params: Mapping[str, str] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    files: tuple[FilePart, ...] = ()


def endpoint_table(text: str) -> Mapping[str, Endpoint]:
    """Read an endpoint table written one operation a line: ``name METHOD /path/{arg} repeatable|once``.

    ``once`` marks operations never sent again after a failure that may have taken effect. Blank lines and
    ``#`` comments are skipped.
    """
    table: dict[str, Endpoint] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, method, path, kind = line.split()
        if kind not in ("repeatable", "once") or name in table:
            raise ValueError(f"bad endpoint table line: {raw!r}")
        table[name] = Endpoint(method, path, repeatable=kind == "repeatable")
    return table


def build_request(
    endpoints: Mapping[str, Endpoint],
    operation: str,
    *,
    params: Mapping[str, str] | None = None,
    json: Any = None,
    form: Mapping[str, str] | None = None,
    files: tuple[FilePart, ...] = (),
    **path_args: str,
) -> Request:
    """Build the :class:`Request` for ``operation`` from a backend's endpoint table."""
    endpoint = endpoints[operation]
    return Request(
        operation=operation,
        method=endpoint.method,
        path=endpoint.path.format(**path_args),
        repeatable=endpoint.repeatable,
        params=params,
        json=json,
        form=form,
        files=files,
    )
