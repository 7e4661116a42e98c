"""Check and compute the ``X-Hub-Signature-256`` header of webhook deliveries, with no I/O.

Meta signs every webhook POST with HMAC-SHA256 over the raw body bytes, keyed with the app secret, and sends
``sha256=<hex digest>``. The signature covers the exact bytes on the wire: a body that was decoded and
re-encoded (as some frameworks do) no longer matches, so callers pass the bytes as received.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from typing import Final

from ..errors import ClientValidationError, WebhookVerificationError

__all__ = ["SIGNATURE_HEADER", "sign_body", "verify_signature"]

#: The request header that carries the signature.
SIGNATURE_HEADER: Final = "X-Hub-Signature-256"

_PREFIX: Final = "sha256="
_DIGEST_HEX_CHARS: Final = hashlib.sha256().digest_size * 2
_HEX_DIGITS: Final = frozenset(string.hexdigits)


def _digest(raw_body: bytes, app_secret: str) -> str:
    return hmac.new(app_secret.encode("utf-8"), bytes(raw_body), hashlib.sha256).hexdigest()


def sign_body(raw_body: bytes, app_secret: str) -> str:
    """Return the ``X-Hub-Signature-256`` header value Meta would send with ``raw_body``.

    Args:
        raw_body: The exact bytes of the request body.
        app_secret: The app secret the signature is keyed with.

    Returns:
        ``"sha256="`` followed by the lowercase hex HMAC-SHA256 digest.

    Raises:
        ClientValidationError: ``app_secret`` is empty.

    """
    if not app_secret:
        raise ClientValidationError("the app secret must not be empty", argument="app_secret")
    return _PREFIX + _digest(raw_body, app_secret)


def verify_signature(raw_body: bytes, signature_header: str | None, app_secret: str) -> None:
    """Check that ``signature_header`` is the HMAC-SHA256 of ``raw_body`` keyed with ``app_secret``.

    The comparison runs in constant time. A missing or malformed header is a rejection, never a pass.

    Args:
        raw_body: The exact bytes of the request body, before any decoding.
        signature_header: The value of the ``X-Hub-Signature-256`` header, or ``None`` when absent.
        app_secret: The app secret configured for the Meta app.

    Raises:
        WebhookVerificationError: The secret is empty, or the header is missing, malformed or does not match.
            The message never contains the secret, the expected digest or the body.

    """
    if not app_secret:
        raise WebhookVerificationError("no app secret is configured: webhook signatures cannot be checked")
    if signature_header is None:
        raise WebhookVerificationError(f"the {SIGNATURE_HEADER} header is missing")
    header = signature_header.strip()
    if header[: len(_PREFIX)].lower() != _PREFIX:
        raise WebhookVerificationError(f"the {SIGNATURE_HEADER} header does not start with {_PREFIX!r}")
    received = header[len(_PREFIX) :]
    if len(received) != _DIGEST_HEX_CHARS or not _HEX_DIGITS.issuperset(received):
        raise WebhookVerificationError(
            f"the {SIGNATURE_HEADER} header does not hold a {_DIGEST_HEX_CHARS}-digit hex digest"
        )
    expected = _digest(raw_body, app_secret)
    if not hmac.compare_digest(expected.encode("ascii"), received.lower().encode("ascii")):
        raise WebhookVerificationError("the webhook signature does not match the body")
