"""The vocabulary of a fake's routing table: routes, what a handler receives, and how it answers."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
from aiohttp import web

__all__ = ["Abort", "Call", "Handler", "RequestBody", "Route", "json_response", "read_body"]


@attrs.define(frozen=True)
class RequestBody:
    """A request body read once and decoded for handlers."""

    #: The raw bytes (empty for multipart bodies, which are decoded into ``form`` and ``files``).
    raw: bytes
    #: The decoded JSON value; ``None`` when the body was empty or not JSON.
    json: Any
    #: True when the body claimed to be JSON or looked like JSON but did not decode.
    invalid_json: bool
    #: Text fields of a form-encoded or multipart body.
    form: dict[str, str] | None
    #: File parts of a multipart body.
    files: dict[str, bytes] | None


@attrs.define(frozen=True)
class Call:
    """What a route handler receives: the request, the path parameters and the decoded body."""

    #: The aiohttp request.
    request: web.Request
    #: Named groups of the route's path pattern.
    params: dict[str, str]
    #: The decoded request body.
    body: RequestBody


#: A route handler.
Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@attrs.define(frozen=True)
class Route:
    """One entry of a fake's routing table: a method, a full-match path pattern and its handler."""

    #: HTTP method, upper case.
    method: str
    #: Pattern that must match the whole request path.
    pattern: re.Pattern[str]
    #: Coroutine function answering the request.
    handler: Handler


class Abort(Exception):
    """Raised by a handler to answer a ready-made response (usually an error)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        #: The response to send.
        self.response = response


def json_response(payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """Encode ``payload`` as compact JSON and wrap it in a response."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return web.Response(body=body, status=status, headers=headers, content_type="application/json", charset="utf-8")


async def read_body(request: web.Request) -> RequestBody:
    """Read a request body once and decode it as multipart, form-encoded or JSON, by its content type."""
    if request.content_type == "multipart/form-data":
        form: dict[str, str] = {}
        files: dict[str, bytes] = {}
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                files[name] = value.file.read()
            elif isinstance(value, str):
                form[name] = value
            else:
                files[name] = bytes(value)
        return RequestBody(raw=b"", json=None, invalid_json=False, form=form, files=files)
    raw = await request.read()
    if request.content_type == "application/x-www-form-urlencoded":
        fields = {name: str(value) for name, value in (await request.post()).items()}
        return RequestBody(raw=raw, json=None, invalid_json=False, form=fields, files=None)
    if not raw.strip():
        return RequestBody(raw=raw, json=None, invalid_json=False, form=None, files=None)
    try:
        decoded = json.loads(raw)
    except ValueError:
        return RequestBody(raw=raw, json=None, invalid_json=True, form=None, files=None)
    return RequestBody(raw=raw, json=decoded, invalid_json=False, form=None, files=None)
