"""The client shell every backend shares: connection options, token check and the session lifecycle.

A backend client subclasses :class:`TransportClient`, calls :meth:`TransportClient._connect` with its API root
and answer decoder, and sends :class:`~wa_groups._core.request.Request` values with ``_send``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, TypeVar

import aiohttp

from ..errors import ClientValidationError
from .request import Request
from .retry import RetryPolicy
from .transport import Decoder, Transport

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

__all__ = ["ConnectionOptions", "TransportClient"]

C = TypeVar("C", bound="TransportClient")


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

    max_answer_bytes: int
    """The largest answer body read, counted after decompression (8 MiB by default); a larger one is a
    :class:`~wa_groups.errors.ResponseError`."""


def _safe_repr(method: Callable[[Any], str]) -> Callable[[Any], str]:
    @functools.wraps(method)
    def wrapper(self: Any) -> str:
        try:
            return method(self)
        except AttributeError:
            return f"<{type(self).__name__} (not constructed)>"

    wrapper._never_raises = True  # type: ignore[attr-defined]
    return wrapper


class TransportClient:
    """The lifecycle every backend client shares over one :class:`~wa_groups._core.transport.Transport`.

    ``async with`` closes the session the client created; ``close()`` is idempotent; a plain ``with`` raises
    :class:`TypeError`. Subclasses set ``self._transport`` in ``__init__``.
    """

    _transport: Transport

    #: The environment variables :meth:`from_env` reads, by constructor keyword (``access_token`` first). Each
    #: backend client sets its own; the command line reads the same table.
    ENVIRONMENT: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Build a client from the environment variables of :attr:`ENVIRONMENT`; keyword arguments override them.

        Raises:
            ClientValidationError: No token is given and its variable is unset or blank.

        """
        kwargs: dict[str, Any] = {}
        for keyword, variable in cls.ENVIRONMENT.items():
            value = os.environ.get(variable, "").strip()
            if value:
                kwargs[keyword] = value
        kwargs.update(overrides)
        token = kwargs.pop("access_token", None)
        if not token:
            variable = cls.ENVIRONMENT.get("access_token", "the access token variable")
            raise ClientValidationError(f"{variable} is not set", argument="access_token")
        build: Callable[..., Self] = cls  # each backend's constructor takes the token first
        return build(token, **kwargs)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A constructor that raised leaves a half-built object that a traceback printer or debugger may still
        # repr: a subclass's __repr__ must then describe it instead of raising AttributeError.
        own = cls.__dict__.get("__repr__")
        if own is not None and not getattr(own, "_never_raises", False):
            cls.__repr__ = _safe_repr(own)  # type: ignore[method-assign]

    def __repr__(self) -> str:
        transport = getattr(self, "_transport", None)
        return f"<{type(self).__name__}{' (not constructed)' if transport is None else ''}>"

    def _connect(
        self,
        *,
        api_root: str,
        token: object,
        token_argument: str,
        decode: Decoder,
        **connection: Unpack[ConnectionOptions],
    ) -> None:
        """Check the token and retry policy, then create the transport that sends ``Bearer <token>``.

        The connection options go to :class:`~wa_groups._core.transport.Transport` as they are: their
        defaults and checks live there, once.
        """
        if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token):
            raise ClientValidationError(
                f"{token_argument} must be a non-empty string without whitespace", argument=token_argument
            )
        retry = connection.get("retry")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ClientValidationError(f"retry must be a RetryPolicy, got {type(retry).__name__}", argument="retry")
        self._transport = Transport(api_root=api_root, authorization=f"Bearer {token}", decode=decode, **connection)

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
