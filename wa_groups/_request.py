"""Backend-neutral request plumbing: endpoint tables, ready-to-send requests and the client shell.

Every backend (the Graph API in ``_protocol``, the WUTS gateway in ``wuts._protocol``) describes its operations
as a table of :class:`Endpoint` objects and turns them into :class:`Request` objects with :func:`build_request`;
``_http.Transport`` sends them. :class:`TransportClient` gives each backend's client the same session lifecycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import attrs

from ._retry import RetryPolicy
from .errors import ClientValidationError

if TYPE_CHECKING:
    import aiohttp

    from ._http import Decoder, Transport

__all__ = ["ConnectionOptions", "Endpoint", "FilePart", "Request", "TransportClient", "build_request", "endpoint_table"]

C = TypeVar("C", bound="TransportClient")


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


class ConnectionOptions(TypedDict, total=False):
    """The connection settings every backend client accepts as keyword arguments."""

    session: aiohttp.ClientSession | None
    """An ``aiohttp.ClientSession`` to use; it is never closed by the client."""

    timeout: float
    """Seconds allowed for each HTTP exchange (30 by default)."""

    retry: RetryPolicy | None
    """The retry policy (``RetryPolicy()`` by default)."""

    max_connections: int
    """Connection limit of the client's own connector (100 by default)."""

    user_agent: str | None
    """The ``User-Agent`` header; ``wa-groups/<version>`` by default."""


class TransportClient:
    """The lifecycle every backend client shares over one :class:`~wa_groups._http.Transport`.

    ``async with`` closes the session the client created; ``close()`` is idempotent; a plain ``with`` raises
    :class:`TypeError`. Subclasses set ``self._transport`` in ``__init__``.
    """

    _transport: Transport

    def _connect(
        self,
        *,
        api_root: str,
        token: object,
        token_argument: str,
        decode: Decoder,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 100,
        user_agent: str | None = None,
    ) -> None:
        """Check the token and retry policy, then create the transport that sends ``Bearer <token>``."""
        from ._http import Transport

        if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token):
            raise ClientValidationError(
                f"{token_argument} must be a non-empty string without whitespace", argument=token_argument
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ClientValidationError(f"retry must be a RetryPolicy, got {type(retry).__name__}", argument="retry")
        self._transport = Transport(
            api_root=api_root,
            authorization=f"Bearer {token}",
            decode=decode,
            session=session,
            timeout=timeout,
            retry=retry,
            max_connections=max_connections,
            user_agent=user_agent,
        )

    async def __aenter__(self: C) -> C:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __enter__(self) -> None:
        name = type(self).__name__
        raise TypeError(f"{name} is asynchronous: use 'async with {name}(...) as client'")

    def __exit__(self, *args: object) -> None:  # pragma: no cover - __enter__ always raises
        """Never reached: ``__enter__`` raises."""

    async def close(self) -> None:
        """Close the HTTP session the client created (a session passed in is left open); idempotent."""
        await self._transport.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._transport.closed

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in use."""
        return self._transport.retry

    async def _send(self, request: Request) -> Any:
        return await self._transport.send(request)
