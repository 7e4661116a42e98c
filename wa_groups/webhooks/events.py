"""Typed webhook events for the Groups API.

Each notification inside a webhook delivery becomes one frozen event. Every event keeps the JSON object it
was decoded from in ``raw``, so fields the library does not model yet are never lost. Notifications the
library does not recognise become :class:`UnknownEvent`, never an error.

Meta describes them at https://developers.facebook.com/documentation/business-messaging/whatsapp/groups/webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from .._core.plain import plain_data
from ..models import ErrorDetail, UserRef

__all__ = [
    "EventError",
    "EventParticipant",
    "FailedParticipant",
    "GroupCreateFailed",
    "GroupCreated",
    "GroupDeleteFailed",
    "GroupDeleted",
    "GroupMessageReceived",
    "GroupMessageStatus",
    "GroupSuspended",
    "GroupSuspensionCleared",
    "JoinRequestCreated",
    "JoinRequestRevoked",
    "MessageMedia",
    "MessageSender",
    "ParticipantsAdded",
    "ParticipantsRemoved",
    "ReplyContext",
    "SettingResult",
    "SettingsUpdated",
    "StatusPricing",
    "UnknownEvent",
    "WebhookEvent",
    "event_as_dict",
]


#: One item of an ``errors`` list inside a webhook notification: the same type as errors inside API answers.
EventError = ErrorDetail


@attrs.frozen(kw_only=True)
class EventParticipant(UserRef):
    """A participant named in a webhook notification: ``input``, ``wa_id``, ``user_id``... as Meta sent them."""


@attrs.frozen(kw_only=True)
class FailedParticipant(UserRef):
    """A participant that could not be removed, with the reasons (its identity fields come from :class:`UserRef`)."""

    errors: tuple[EventError, ...] = ()
    """Why the removal failed for this participant."""


@attrs.frozen(kw_only=True)
class SettingResult:
    """The outcome of changing one group setting (subject, description or profile picture)."""

    text: str | None = None
    """The new subject or description text."""

    mime_type: str | None = None
    """The MIME type of the new profile picture."""

    sha256: str | None = None
    """The SHA-256 hash of the new profile picture, as Meta reports it."""

    update_successful: bool | None = None
    """Whether the change took effect; ``None`` when Meta did not say."""

    errors: tuple[EventError, ...] = ()
    """Why the change failed."""

    @property
    def failed(self) -> bool:
        """Tell whether this change failed."""
        return bool(self.errors) or self.update_successful is False


@attrs.frozen(kw_only=True)
class StatusPricing:
    """Pricing details of a group message status."""

    billable: bool | None = None
    """Whether the message is billed."""

    pricing_model: str | None = None
    """The pricing model, e.g. ``PMP``."""

    category: str | None = None
    """The pricing category: ``group_marketing``, ``group_utility`` or ``group_service`` for groups."""

    type: str | None = None
    """``regular`` (billed) or ``free_group_customer_service`` (free), from Graph v24 on."""


@attrs.frozen(kw_only=True)
class WebhookEvent:
    """Base class of every webhook event."""

    waba_id: str | None = None
    """The WhatsApp Business Account id (the delivery's ``entry.id``)."""

    phone_number_id: str | None = None
    """The business phone number id from the notification's metadata."""

    display_phone_number: str | None = None
    """The business display phone number from the notification's metadata."""

    group_id: str | None = None
    """The group the notification is about, when known."""

    request_id: str | None = None
    """The id of the API request this notification answers, when it answers one."""

    timestamp: datetime | None = None
    """When the event happened, as an aware UTC datetime; ``None`` when absent or unreadable."""

    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    """The JSON object the event was decoded from, with every field Meta sent."""


@attrs.frozen(kw_only=True)
class GroupCreated(WebhookEvent):
    """A group was created (``group_lifecycle_update``, type ``group_create``)."""

    subject: str | None = None
    """The group's subject."""

    description: str | None = None
    """The group's description."""

    invite_link: str | None = None
    """The group's invite link."""

    join_approval_mode: str | None = None
    """``approval_required`` or ``auto_approve`` (other values are kept as sent)."""

    added_participants: tuple[EventParticipant, ...] = ()
    """Participants added at creation, when reported."""


@attrs.frozen(kw_only=True)
class GroupCreateFailed(WebhookEvent):
    """A group could not be created (``group_create`` with ``errors``)."""

    subject: str | None = None
    """The subject that was requested."""

    description: str | None = None
    """The description that was requested."""

    errors: tuple[EventError, ...] = ()
    """Why creation failed."""


@attrs.frozen(kw_only=True)
class GroupDeleted(WebhookEvent):
    """A group was deleted (``group_lifecycle_update``, type ``group_delete``)."""


@attrs.frozen(kw_only=True)
class GroupDeleteFailed(WebhookEvent):
    """A group could not be deleted (``group_delete`` with ``errors``)."""

    errors: tuple[EventError, ...] = ()
    """Why deletion failed."""


@attrs.frozen(kw_only=True)
class ParticipantsAdded(WebhookEvent):
    """Users joined a group (``group_participants_update``, type ``group_participants_add``)."""

    reason: str | None = None
    """Why they joined, e.g. ``invite_link``."""

    added_participants: tuple[EventParticipant, ...] = ()
    """The users who joined."""


@attrs.frozen(kw_only=True)
class ParticipantsRemoved(WebhookEvent):
    """Users left or were removed from a group (type ``group_participants_remove``).

    A removal requested by the business carries ``request_id`` and may report per-participant failures
    (partial success) or request-wide ``errors``. A user leaving on their own has ``initiated_by`` set to
    ``participant``.
    """

    initiated_by: str | None = None
    """``business`` or ``participant``."""

    removed_participants: tuple[EventParticipant, ...] = ()
    """The users who are no longer in the group."""

    failed_participants: tuple[FailedParticipant, ...] = ()
    """The users who could not be removed, with the reasons."""

    errors: tuple[EventError, ...] = ()
    """Request-wide errors."""


@attrs.frozen(kw_only=True)
class _JoinRequestEvent(WebhookEvent):
    """What both join-request events carry: the request and the user, under every id Meta may send."""

    join_request_id: str | None = None
    """The join request's id (to approve or reject it while it is open)."""

    wa_id: str | None = None
    """The WhatsApp id (phone number) of the user, when Meta shares it."""

    user_id: str | None = None
    """The user's business-scoped user id (BSUID), when Meta sends one."""

    parent_user_id: str | None = None
    """The user's parent BSUID, when Meta sends one."""

    username: str | None = None
    """The user's WhatsApp username, when Meta sends one."""

    reason: str | None = None
    """The reason Meta gives, when it gives one."""

    @property
    def user(self) -> UserRef:
        """Return the user as a :class:`~wa_groups.UserRef`."""
        return UserRef(
            wa_id=self.wa_id, user_id=self.user_id, parent_user_id=self.parent_user_id, username=self.username
        )


@attrs.frozen(kw_only=True)
class JoinRequestCreated(_JoinRequestEvent):
    """A user asked to join a group that requires approval (type ``group_join_request_created``)."""


@attrs.frozen(kw_only=True)
class JoinRequestRevoked(_JoinRequestEvent):
    """A user cancelled a request to join a group (type ``group_join_request_revoked``)."""


@attrs.frozen(kw_only=True)
class SettingsUpdated(WebhookEvent):
    """The outcome of a group settings update (``group_settings_update``).

    Each setting that was part of the request has its own result; a setting that was not changed is
    ``None``. Request-wide failures are in ``errors``.
    """

    subject: SettingResult | None = None
    """The outcome for the subject."""

    description: SettingResult | None = None
    """The outcome for the description."""

    profile_picture: SettingResult | None = None
    """The outcome for the profile picture."""

    errors: tuple[EventError, ...] = ()
    """Request-wide errors."""

    @property
    def results(self) -> tuple[SettingResult, ...]:
        """Return the outcomes of the settings that were part of the request."""
        return tuple(r for r in (self.subject, self.description, self.profile_picture) if r is not None)

    @property
    def failed(self) -> bool:
        """Tell whether the update failed entirely: request-wide errors, or every reported setting failed."""
        if self.errors:
            return True
        results = self.results
        return bool(results) and all(r.failed for r in results)


@attrs.frozen(kw_only=True)
class GroupSuspended(WebhookEvent):
    """WhatsApp suspended a group (``group_status_update``, type ``group_suspend``)."""


@attrs.frozen(kw_only=True)
class GroupSuspensionCleared(WebhookEvent):
    """WhatsApp lifted a group's suspension (type ``group_suspend_cleared``)."""


@attrs.frozen(kw_only=True)
class GroupMessageStatus(WebhookEvent):
    """The status of a message sent to a group (field ``messages``, ``recipient_type`` ``group``).

    ``group_id`` is the status's ``recipient_id``. ``sent`` and ``failed`` concern the group as a whole and
    name no participant; ``delivered`` and ``read`` name one participant each. Meta may put several status
    objects in one delivery (one message to many participants, or many messages to one participant); each
    becomes its own event.
    """

    message_id: str | None = None
    """The WhatsApp message id (``wamid...``)."""

    status: str | None = None
    """``sent``, ``delivered``, ``read``, ``failed`` or another value Meta sends."""

    participant_id: str | None = None
    """The participant the status is about: the phone number when Meta gives one, else the BSUID."""

    participant: UserRef | None = None
    """The participant with every identifier Meta gave (and the profile from ``contacts``), or ``None``."""

    pricing: StatusPricing | None = None
    """Pricing details, when reported (beside ``conversation`` or inside it)."""

    conversation_id: str | None = None
    """The conversation id (Graph v23 and older only)."""

    conversation_category: str | None = None
    """The conversation's ``origin.type``, when reported."""

    errors: tuple[EventError, ...] = ()
    """Why delivery failed, for ``failed`` statuses."""

    @property
    def group_level(self) -> bool:
        """Tell whether the status concerns the whole group (``sent``, ``failed``) rather than one participant."""
        return self.participant is None


@attrs.frozen(kw_only=True)
class MessageSender(UserRef):
    """Who wrote an inbound group message: their identifiers and the profile name from ``contacts``."""

    name: str | None = None
    """The sender's profile name, when Meta sends it."""


@attrs.frozen(kw_only=True)
class MessageMedia:
    """The media of an inbound message (image, video, audio, document or sticker)."""

    id: str | None = None
    """The media id, to download it from Graph."""

    mime_type: str | None = None
    """The MIME type, e.g. ``image/jpeg``."""

    sha256: str | None = None
    """The SHA-256 of the file, as Meta reports it."""

    caption: str | None = None
    """The caption, when the sender wrote one."""

    filename: str | None = None
    """The file name of a document."""


@attrs.frozen(kw_only=True)
class ReplyContext:
    """The message an inbound message replies to (its ``context``)."""

    message_id: str | None = None
    """The ``wamid`` of the message replied to."""

    sender: str | None = None
    """Who wrote the message replied to (``context.from``), when given."""


@attrs.frozen(kw_only=True)
class GroupMessageReceived(WebhookEvent):
    """A participant wrote in a group (field ``messages``, a message with a ``group_id``).

    Messages of a type the Cloud API cannot show in groups arrive with ``type`` ``"unsupported"`` and the
    reason in ``errors``; the kind the user sent, when Meta says, is in ``unsupported_type``.
    """

    message_id: str | None = None
    """The message's ``wamid``."""

    type: str | None = None
    """``text``, ``image``, ``video``, ``audio``, ``document``, ``unsupported`` or another type Meta sends."""

    sender: MessageSender | None = None
    """Who wrote it: phone number, BSUID, parent BSUID, username and profile name, as far as Meta tells."""

    text: str | None = None
    """The text of a text message."""

    media: MessageMedia | None = None
    """The media of an image, video, audio, document or sticker message."""

    context: ReplyContext | None = None
    """The message this one replies to, if it is a reply."""

    errors: tuple[EventError, ...] = ()
    """Why the message could not be shown (unsupported messages)."""

    unsupported_type: str | None = None
    """For unsupported messages, the kind the user sent (``unsupported.type``), when Meta says."""


@attrs.frozen(kw_only=True)
class UnknownEvent(WebhookEvent):
    """A notification the library does not recognise; ``raw`` holds it unchanged."""

    field: str | None = None
    """The webhook field it arrived on, e.g. ``group_lifecycle_update``."""

    type: str | None = None
    """The notification's ``type``, when it has one."""


def event_as_dict(event: WebhookEvent, *, include_raw: bool = False) -> dict[str, Any]:
    """Return ``event`` as a JSON-ready dict: ``{"event": <class name>, <field>: <value>, ...}``.

    Datetimes become ISO 8601 strings and nested records become dicts.

    Args:
        event: The event to convert.
        include_raw: Also include ``raw`` (always included for :class:`UnknownEvent`, which has nothing else).

    """
    data: dict[str, Any] = {"event": type(event).__name__}
    data.update(plain_data(event))
    if include_raw or isinstance(event, UnknownEvent):
        data["raw"] = plain_data(event.raw)
    return data
