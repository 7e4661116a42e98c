"""Builders of the messages a business sends to its groups (public, pure).

Each builder returns the type-specific part of a message (``{"type": "text", "text": {...}}``), checked before
anything is sent; :meth:`~wa_groups.GroupsClient.send_message` and :meth:`~wa_groups.GroupsClient.broadcast`
take it and add the group envelope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ._graph.checks import check_id
from .errors import ClientValidationError

__all__ = ["MEDIA_TYPES", "media_message", "template_message", "text_message"]

#: The media kinds Meta documents for groups ("media": image, video, audio, document).
MEDIA_TYPES: Final = ("image", "video", "audio", "document")
_TEXT_MAX_CHARS: Final = 4096
_CAPTION_MAX_CHARS: Final = 1024


def _text(value: object, argument: str, maximum: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ClientValidationError(f"{argument} must be a non-empty string, got {value!r}", argument=argument)
    if len(value) > maximum:
        raise ClientValidationError(
            f"{argument} must be at most {maximum} characters, got {len(value)}", argument=argument
        )
    return value


def text_message(body: str, *, preview_url: bool | None = None, reply_to: str | None = None) -> dict[str, Any]:
    """Return a text message for :meth:`~wa_groups.GroupsClient.send_message` (or a broadcast).

    Args:
        body: The text, 1..4096 characters.
        preview_url: Ask WhatsApp to render a preview of the first link (``None`` leaves Graph's default).
        reply_to: The ``wamid`` of a message this one replies to (``context.message_id``).

    """
    text: dict[str, Any] = {"body": _text(body, "text", _TEXT_MAX_CHARS)}
    if preview_url is not None:
        if not isinstance(preview_url, bool):
            raise ClientValidationError(
                f"preview_url must be True or False, got {preview_url!r}", argument="preview_url"
            )
        text["preview_url"] = preview_url
    message: dict[str, Any] = {"type": "text", "text": text}
    return _with_context(message, reply_to)


def media_message(
    media_type: str,
    *,
    link: str | None = None,
    media_id: str | None = None,
    caption: str | None = None,
    filename: str | None = None,
    reply_to: str | None = None,
) -> dict[str, Any]:
    """Return an image, video, audio or document message: exactly one of ``link`` or ``media_id``.

    Args:
        media_type: ``image``, ``video``, ``audio`` or ``document``.
        link: An https URL WhatsApp downloads the media from.
        media_id: The id of media uploaded to Graph beforehand.
        caption: A caption (not for audio), at most 1024 characters.
        filename: The file name shown for a document.
        reply_to: The ``wamid`` of a message this one replies to.

    """
    if media_type not in MEDIA_TYPES:
        raise ClientValidationError(
            f"media_type must be one of {', '.join(MEDIA_TYPES)}, got {media_type!r}", argument="media_type"
        )
    if (link is None) == (media_id is None):
        raise ClientValidationError("give exactly one of link= or media_id=", argument="link")
    media: dict[str, Any] = {}
    if link is not None:
        if not isinstance(link, str) or not link.startswith(("https://", "http://")):
            raise ClientValidationError(f"link must be an http(s) URL, got {link!r}", argument="link")
        media["link"] = link
    else:
        media["id"] = check_id(media_id, "media_id")
    if caption is not None:
        if media_type == "audio":
            raise ClientValidationError("audio messages take no caption", argument="caption")
        media["caption"] = _text(caption, "caption", _CAPTION_MAX_CHARS)
    if filename is not None:
        if media_type != "document":
            raise ClientValidationError("only documents take a filename", argument="filename")
        media["filename"] = _text(filename, "filename", 240)
    return _with_context({"type": media_type, media_type: media}, reply_to)


def template_message(
    name: str, language: str, *, components: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Return a template message; in groups only templates whose content is text or media are allowed.

    Args:
        name: The approved template's name.
        language: Its language code, e.g. ``en_US``.
        components: The template's parameters, as Graph takes them.

    """
    if not isinstance(name, str) or not name.strip():
        raise ClientValidationError(f"template name must be a non-empty string, got {name!r}", argument="name")
    if not isinstance(language, str) or not language.strip():
        raise ClientValidationError(
            f"language must be a language code such as 'en_US', got {language!r}", argument="language"
        )
    template: dict[str, Any] = {"name": name, "language": {"policy": "deterministic", "code": language}}
    if components is not None:
        if isinstance(components, (str, Mapping)) or not all(isinstance(c, Mapping) for c in components):
            raise ClientValidationError("components must be a list of objects", argument="components")
        template["components"] = [dict(c) for c in components]
    return {"type": "template", "template": template}


def _with_context(message: dict[str, Any], reply_to: str | None) -> dict[str, Any]:
    if reply_to is not None:
        message["context"] = {"message_id": check_id(reply_to, "reply_to")}
    return message
