"""The one module that uses aiohttp's client: session lifecycle, sending, and retries driven by ``backoff``.

A :class:`Transport` is protocol-neutral. The backend gives it the API root, the authorization header and a
``decode`` function (status, headers, body, operation) -> value-or-raise; everything backend-specific stays in
the backend's pure protocol package. Retry decisions come from :func:`wa_groups._core.retry.retry_wait`; a bulk
job's admission control reaches the transport through :data:`wa_groups._core.gate.current_gate`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import attrs
import backoff

from .._version import __version__
from ..errors import APIError, ClientValidationError, RateLimitError, ResponseError, TransportError, WAGroupsError
from .gate import RequestGate, RequestWithheld, ambiguity_note, current_gate
from .request import Request
from .retry import RetryPolicy, is_ambiguous, retry_wait
from .secret import Secret

__all__ = ["DEFAULT_MAX_ANSWER_BYTES", "Decoder", "Transport", "check_base_url"]

logger = logging.getLogger("wa_groups")

#: (status, headers, raw body, operation) -> decoded value, or raise the answer's error.
Decoder = Callable[[int, Mapping[str, str], bytes, str], Any]

DEFAULT_USER_AGENT = f"wa-groups/{__version__}"

#: The largest answer body read, after decompression (Graph's largest pages are a few hundred kilobytes).
DEFAULT_MAX_ANSWER_BYTES = 8 * 1024 * 1024
#: Bodies announced at most this long, and not compressed, are read in one go (the common case stays cheap).
_FAST_READ_BYTES = 256 * 1024
_CHUNK_BYTES = 64 * 1024


def check_base_url(base_url: object) -> str:
    """Return ``base_url`` without a trailing slash; it must be https unless its host is loopback."""
    if not isinstance(base_url, str):
        raise ClientValidationError(f"base_url must be a string, got {type(base_url).__name__}", argument="base_url")
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or ""
        credentials = parts.username or parts.password
    except ValueError:
        raise ClientValidationError("base_url is not a valid URL", argument="base_url") from None
    if credentials or parts.query or parts.fragment:
        # Checked first, so that no message below quotes a URL that holds a password.
        raise ClientValidationError("base_url must not carry credentials, a query or a fragment", argument="base_url")
    if parts.scheme not in ("http", "https") or not host:
        raise ClientValidationError(f"base_url must be an http(s) URL, got {base_url!r}", argument="base_url")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ClientValidationError(
            f"base_url must use https unless its host is loopback, got {base_url!r}", argument="base_url"
        )
    return base_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@attrs.define
class _Outcome:
    value: Any = None
    error: WAGroupsError | None = None
    wait: float | None = None


class Transport:
    """Sends requests for one client over one lazily created aiohttp session."""

    def __init__(
        self,
        *,
        api_root: str,
        authorization: str,
        decode: Decoder,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 100,
        user_agent: str | None = None,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ClientValidationError(
                f"timeout must be a positive number of seconds, got {timeout!r}", argument="timeout"
            )
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ClientValidationError(
                f"max_connections must be an int >= 1, got {max_connections!r}", argument="max_connections"
            )
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ClientValidationError(
                f"session must be an aiohttp.ClientSession, got {type(session).__name__}", argument="session"
            )
        if user_agent is not None and (not isinstance(user_agent, str) or not user_agent.strip()):
            raise ClientValidationError(
                f"user_agent must be a non-empty string, got {user_agent!r}", argument="user_agent"
            )
        if isinstance(max_answer_bytes, bool) or not isinstance(max_answer_bytes, int) or max_answer_bytes < 1024:
            raise ClientValidationError(
                f"max_answer_bytes must be an int >= 1024, got {max_answer_bytes!r}", argument="max_answer_bytes"
            )
        self._root = api_root
        self.max_answer_bytes = max_answer_bytes
        self._decode = decode
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._timeout = aiohttp.ClientTimeout(total=float(timeout))
        self.retry = retry if retry is not None else RetryPolicy()
        self._max_connections = max_connections
        # The authorization value lives only in this object, whose repr hides it; answers are scrubbed of it.
        self._auth = Secret(authorization)
        self._headers = {"User-Agent": user_agent or DEFAULT_USER_AGENT}
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        self._send_with_retries = backoff.on_predicate(
            backoff.runtime,
            predicate=lambda outcome: outcome.wait is not None,
            value=lambda outcome: 0,  # the real wait is slept in _on_backoff, through the injectable sleep
            jitter=None,
            on_backoff=self._on_backoff,
            logger=None,
        )(self._attempt)

    def __repr__(self) -> str:
        return f"Transport(api_root={self._root!r}, owns_session={self._owns_session}, closed={self._closed})"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    @property
    def user_agent(self) -> str:
        """The User-Agent header sent with every request."""
        return self._headers["User-Agent"]

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise WAGroupsError("this client is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=self._timeout,
            )
            self._loop = loop
        elif self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise WAGroupsError(
                "this client is bound to another event loop; create one client per loop (e.g. per asyncio.run)"
            )
        if self._session.closed:
            raise WAGroupsError("the aiohttp session given to this client is closed")
        return self._session

    async def close(self) -> None:
        """Close the session if this transport created it; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    async def send(self, request: Request) -> Any:
        """Send ``request``, retrying as the policy allows, and return the decoded answer.

        Raises:
            WAGroupsError: The final failure; ``outcome_unknown`` is set when a request that is never repeated
                may have taken effect.

        """
        state = [0, current_gate.get(), 0, None]
        # The first attempt goes straight out; backoff's machinery is entered only once a retry is due, so
        # the common case pays nothing for it.
        outcome = await self._attempt(request, state)
        if outcome.wait is not None:
            await self._on_backoff({"value": outcome, "args": (request, state)})
            outcome = await self._send_with_retries(request, state)
        if outcome.error is None:
            return outcome.value
        error = outcome.error
        if not request.repeatable and is_ambiguous(error):
            error.mark_outcome_unknown()
        raise error

    async def _attempt(self, request: Request, state: list[Any]) -> _Outcome:
        state[0] += 1
        gate: RequestGate | None = state[1]
        try:
            if gate is None:
                return _Outcome(value=await self._send_once(request, state[0]))
            async with gate.slot():
                return _Outcome(value=await self._send_once(request, state[0]))
        except RequestWithheld as withheld:
            # A retry the job would not send: report how the previous attempt failed, since it may have
            # taken effect; with no previous attempt the request was simply never sent.
            previous: WAGroupsError | None = state[3]
            if previous is None:
                return _Outcome(error=withheld)
            if is_ambiguous(previous):
                previous.mark_outcome_unknown()
            return _Outcome(error=previous)
        except WAGroupsError as error:
            state[3] = error
            if is_ambiguous(error):
                note = ambiguity_note.get()
                if note is not None:
                    note.append(error)
            attempt = state[0]
            if gate is not None and isinstance(error, RateLimitError) and error.retry_after is None:
                # Inside a bulk job an unexplained throttle is the job's cue to pace itself (see the gate), not
                # the batch's failure: such answers do not use up attempts (within the gate's allowance).
                state[2] += 1
                if state[2] <= gate.paced_retries_per_attempt * self.retry.max_attempts:
                    attempt = max(1, attempt - state[2])
            wait = retry_wait(error, repeatable=request.repeatable, attempt=attempt, policy=self.retry)
            return _Outcome(error=error, wait=wait)

    async def _on_backoff(self, details: Any) -> None:
        outcome: _Outcome = details["value"]
        request: Request = details["args"][0]
        state: list[Any] = details["args"][1]
        error = outcome.error
        wait = outcome.wait or 0.0
        code = error.code if isinstance(error, APIError) and error.code is not None else type(error).__name__
        logger.info(
            "retrying %s: attempt %d of %d failed (%s); waiting %.3fs",
            request.operation,
            state[0],
            self.retry.max_attempts,
            code,
            wait,
        )
        gate: RequestGate | None = state[1]
        if gate is not None and isinstance(error, RateLimitError):
            await gate.throttle(wait, demanded=error.retry_after is not None)
        elif wait > 0:
            await self.retry.sleep(wait)

    async def _send_once(self, request: Request, attempt: int = 1) -> Any:
        session = self._get_session()
        started = asyncio.get_running_loop().time()
        url = self._root + request.path
        data: Any = None
        base_headers = self._headers
        if request.files or request.form is not None:
            form = aiohttp.FormData()
            for key, value in (request.form or {}).items():
                form.add_field(key, value)
            for part in request.files:
                form.add_field(part.name, part.data, filename=part.filename, content_type=part.content_type)
            data = form
        elif request.json is not None:
            data = json.dumps(request.json, separators=(",", ":")).encode()
            base_headers = self._json_headers
        answer = await self._exchange(session, request, url, data, base_headers)
        # The request log of -vv: method, path (never the query, the headers or a body), status, time, attempt.
        logger.debug(
            "%s %s -> %s in %.3fs (attempt %d)",
            request.method,
            request.path,
            _logged_status(answer),
            asyncio.get_running_loop().time() - started,
            attempt,
        )
        if isinstance(answer, WAGroupsError):
            # Raised here, outside any except block and after the exchange's frame is gone: aiohttp's
            # exceptions can carry request headers (the token), and a refused redirect's headers may carry
            # anything, so neither rides along as __context__ or in a frame of the traceback.
            raise answer
        status, response_headers, raw = answer
        failure: WAGroupsError
        try:
            return self._decode(status, response_headers, raw, request.operation)
        except WAGroupsError:
            raise
        except (RecursionError, MemoryError, ValueError, TypeError, LookupError, AttributeError, ArithmeticError):
            failure = ResponseError(f"{request.operation}: the answer could not be decoded", http_status=status)
        raise failure

    async def _exchange(
        self, session: aiohttp.ClientSession, request: Request, url: str, data: Any, base_headers: Mapping[str, str]
    ) -> tuple[int, Mapping[str, str], bytes] | WAGroupsError:
        """Send one request and read its answer (status, headers, scrubbed body), or return how it failed."""
        try:
            async with session.request(
                request.method,
                url,
                params=request.params,
                data=data,
                # Built in the call itself: no local variable of any frame ever holds the token.
                headers=self._auth.headers(base_headers),
                timeout=self._timeout,
                raise_for_status=False,  # a caller's session may raise for status: the library reads every answer
                allow_redirects=False,  # Graph never redirects; following one could send the token elsewhere
            ) as response:
                status = response.status
                if 300 <= status < 400:
                    # The Location is not quoted: a redirect target can carry anything, secrets included.
                    return ResponseError(
                        f"{request.operation}: HTTP {status} redirect refused: Graph does not redirect, so the "
                        "answer was not followed",
                        http_status=status,
                    )
                body = await _read_bounded(response, self.max_answer_bytes, self._auth.scrub)
                if body is None:
                    response.close()  # the rest of the body is never read: drop the connection
                    return ResponseError(
                        f"{request.operation}: the answer is larger than {self.max_answer_bytes} bytes; "
                        "it was not read",
                        http_status=status,
                    )
                return status, response.headers, body
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            return TransportError(_describe(exc), operation=request.operation, before_send=True)
        except asyncio.TimeoutError:
            return TransportError(f"no answer within {self._timeout.total:g}s", operation=request.operation)
        except aiohttp.ClientError as exc:
            return TransportError(_describe(exc), operation=request.operation)


async def _read_bounded(response: aiohttp.ClientResponse, limit: int, scrub: Callable[[bytes], bytes]) -> bytes | None:
    """Read the body, decompressed, up to ``limit`` bytes, and return it ``scrub``-bed; return ``None`` past it.

    The body is scrubbed before it leaves this function, so no frame that an error's traceback can show holds
    it unscrubbed.

    aiohttp decompresses transparently, so the bytes counted are the decoded ones: a small compressed body that
    would expand without end stops at the limit. A body announced short and not compressed is read in one go.
    """
    length = response.content_length
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if length is not None and encoding in ("", "identity"):
        if length > limit:
            return None
        if length <= _FAST_READ_BYTES:
            return scrub(await response.read())
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return scrub(b"".join(chunks))


def _logged_status(answer: tuple[int, Mapping[str, str], bytes] | WAGroupsError) -> int | str:
    """Return the status an exchange's log line shows: the HTTP status, or ``no answer``."""
    if isinstance(answer, WAGroupsError):
        status = getattr(answer, "http_status", None)
        return status if isinstance(status, int) else "no answer"
    return answer[0]


def _describe(exc: BaseException) -> str:
    """Describe an aiohttp failure without anything that could hold request headers."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({type(exc.os_error).__name__})"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{type(exc).__name__}: HTTP {exc.status}"
    text = str(exc).split("\n", 1)[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
