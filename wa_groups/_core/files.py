"""Reading a file a caller names by path (the I/O layer: nothing below it opens files)."""

from __future__ import annotations

import os

from ..errors import ClientValidationError

__all__ = ["read_upload"]


def read_upload(value: bytes | str | os.PathLike[str], *, argument: str, max_bytes: int) -> tuple[bytes, str]:
    """Return ``(data, filename)`` for bytes or a path, refusing a file larger than ``max_bytes`` before reading.

    Bytes are returned as they are with the filename ``<argument>.jpg``; a path is read whole.

    Raises:
        ClientValidationError: ``value`` is neither, the file cannot be read, or it is too large.

    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), f"{argument}.jpg"
    if not isinstance(value, (str, os.PathLike)):
        raise ClientValidationError(
            f"{argument} must be a path or bytes, got {type(value).__name__}", argument=argument
        )
    path = os.fspath(value)
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise ClientValidationError(
                f"{argument} {path!r} is {size} bytes; at most {max_bytes} are allowed", argument=argument
            )
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ClientValidationError(f"{argument} {path!r} cannot be read: {exc.strerror}", argument=argument) from None
    return data, os.path.basename(path) or f"{argument}.jpg"
