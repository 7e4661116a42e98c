"""The access token as the transport holds it (pure): never shown, and scrubbed from every answer.

Servers and proxies sometimes echo the token back (Graph answers "Malformed access token <token>"), raw,
JSON-escaped or URL-encoded; :meth:`Secret.scrub` removes every such spelling before an answer is decoded, so
no error, log, report or output can carry it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["Secret"]


class Secret:
    """The authorization value, kept where no ``repr``, log or frame-locals capture shows it.

    The header dict is built only as an argument of the call that sends a request, so no local variable of
    any frame of the library holds the plain token.
    """

    __slots__ = ("__value", "_pattern", "_plain")

    def __init__(self, authorization: str) -> None:
        self.__value = authorization
        token = authorization.partition(" ")[2] or authorization
        self._pattern = _echo_pattern(token) if len(token) >= 4 else None
        self._plain = token.encode()

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__

    def headers(self, base: Mapping[str, str]) -> dict[str, str]:
        """Return ``base`` plus the ``Authorization`` header, as a fresh dict for one request."""
        return {**base, "Authorization": self.__value}

    def scrub(self, raw: bytes) -> bytes:
        """Return ``raw`` with every echo of the token replaced by ``[redacted]``.

        Servers and proxies sometimes echo the token (Graph: "Malformed access token <token>"), raw, JSON-escaped
        (backslash-u escapes in upper or lower hex, in any mix with plain characters) or URL-encoded (``%41``): every
        spelling is removed before anything is decoded, so no error, log or report can carry it.
        """
        if self._pattern is None:
            return raw
        if self._plain in raw:
            raw = raw.replace(self._plain, b"[redacted]")
        # Escaped spellings need a backslash or a percent sign: most answers have neither and skip the pattern.
        if b"\\" in raw or b"%" in raw:
            raw = self._pattern.sub(b"[redacted]", raw)
        return raw


def _echo_pattern(token: str) -> re.Pattern[bytes]:
    """Return a pattern matching ``token`` with each character raw, JSON-escaped or percent-encoded."""
    parts: list[bytes] = []
    for char in token:
        encoded = char.encode()
        options = [re.escape(encoded)]
        if len(char) == 1 and ord(char) <= 0xFFFF:
            options.append(rb"\\u" + _any_case(f"{ord(char):04x}"))
        options.append(b"".join(b"%" + _any_case(f"{byte:02x}") for byte in encoded))
        if char == "/":
            options.append(rb"\\/")
        parts.append(b"(?:" + b"|".join(options) + b")")
    return re.compile(b"".join(parts))


def _any_case(hex_digits: str) -> bytes:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in hex_digits).encode()
