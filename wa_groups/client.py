"""``GroupsClient``: the async client for the WhatsApp Cloud API Groups endpoints."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from . import messages as message_builders
from ._core.files import read_upload
from ._core.request import FilePart
from ._core.shell import ConnectionOptions, TransportClient
from ._core.transport import check_base_url
from ._graph import checks, decode, endpoints, messages
from ._graph.errors import ERROR_EXPLANATIONS, explain
from .bulk.broadcast import run_broadcast
from .bulk.graph import run_all_join_requests, run_join_requests, run_participants
from .bulk.options import JobOptions, ReportOptions
from .bulk.results import BulkProgressCallback, BulkReport, BulkResult
from .errors import APIError, ClientValidationError, InvalidRequestError, PermissionDeniedError, ResponseError
from .models import (
    GroupInfo,
    GroupSummary,
    JoinApprovalMode,
    JoinRequest,
    JoinRequestsResult,
    OperationKind,
    Page,
    SentMessage,
)
from .paging import Paginator
from .webhooks.delivery import DeliveryTracker, TrackedMessage
from .webhooks.tracking import OperationTracker, TrackedOperation

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .webhooks.receiver import WebhookReceiver

__all__ = ["GroupsClient"]

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v23.0"


class GroupsClient(TransportClient):
    """Async client for the WhatsApp Business Cloud API Groups API.

    Use it as an async context manager so its HTTP session is closed::

        async with GroupsClient(token, phone_number_id="123") as client:
            async for group in client.iter_groups():
                print(group.id, group.subject)

    Args:
        access_token: A system-user or business token; sent only in the ``Authorization`` header.
        phone_number_id: The default business phone number id for calls that need one.
        api_version: The Graph API version, e.g. ``"v23.0"``.
        base_url: Graph's root URL; https unless the host is loopback (as for the fake server).
        connection: The connection options every client takes: ``session`` (an ``aiohttp.ClientSession``
            to use, never closed by the client), ``timeout`` (seconds for each HTTP exchange, 30),
            ``retry`` (a :class:`RetryPolicy`), ``max_connections`` (100), ``user_agent``
            (``wa-groups/<version>``) and ``max_answer_bytes`` (the largest answer read, 8 MiB).

    """

    def __init__(
        self,
        access_token: str,
        *,
        phone_number_id: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        base_url: str = DEFAULT_BASE_URL,
        **connection: Unpack[ConnectionOptions],
    ) -> None:
        if phone_number_id is not None:
            checks.check_id(phone_number_id, "phone_number_id")
        if not isinstance(api_version, str) or not api_version.startswith("v") or "/" in api_version:
            raise ClientValidationError(
                f"api_version must look like 'v23.0', got {api_version!r}", argument="api_version"
            )
        self._base_url = check_base_url(base_url)
        self._phone_number_id = phone_number_id
        self._api_version = api_version
        api_root = f"{self._base_url}/{api_version}"
        self._connect(
            api_root=api_root,
            token=access_token,
            token_argument="access_token",
            decode=decode.decode_response,
            **connection,
        )
        self._tracker: OperationTracker | None = None
        self._deliveries: DeliveryTracker | None = None

    #: The variables :meth:`from_env` (and the ``wa-groups`` command) read, by constructor keyword.
    ENVIRONMENT: ClassVar[Mapping[str, str]] = {
        "access_token": "WA_ACCESS_TOKEN",
        "phone_number_id": "WA_PHONE_NUMBER_ID",
        "base_url": "WA_BASE_URL",
        "api_version": "WA_API_VERSION",
    }

    def __repr__(self) -> str:
        return (
            f"GroupsClient(base_url={self._base_url!r}, api_version={self._api_version!r}, "
            f"phone_number_id={self._phone_number_id!r})"
        )

    @property
    def phone_number_id(self) -> str | None:
        """The default business phone number id."""
        return self._phone_number_id

    @property
    def api_version(self) -> str:
        """The Graph API version in use."""
        return self._api_version

    @property
    def base_url(self) -> str:
        """The Graph root URL in use."""
        return self._base_url

    def _phone(self, override: str | None) -> str:
        phone = override if override is not None else self._phone_number_id
        if phone is None:
            raise ClientValidationError(
                "this call needs a phone number id: pass phone_number_id= here or to GroupsClient()",
                argument="phone_number_id",
            )
        return checks.check_id(phone, "phone_number_id")

    def _operation(self, kind: OperationKind, decoded: Any, group_id: str | None) -> TrackedOperation:
        return TrackedOperation(
            kind=kind,
            request_id=decode.decode_request_id(decoded),
            group_id=group_id,
            raw=dict(decoded) if isinstance(decoded, dict) else {},
            tracker=self._tracker,
        )

    # ------------------------------------------------------------------------------------------- groups

    async def create_group(
        self,
        subject: str,
        *,
        description: str | None = None,
        join_approval_mode: JoinApprovalMode | str | None = None,
        phone_number_id: str | None = None,
    ) -> TrackedOperation:
        """Ask Graph to create a group; the new id and invite link arrive in a webhook (``await op.wait()``).

        Never retried after an ambiguous failure (a 5xx, timeout or dropped connection): the error then has
        ``outcome_unknown=True``, because the group may exist.
        """
        payload = endpoints.body(
            subject=checks.check_subject(subject),
            description=None if description is None else checks.check_description(description),
            join_approval_mode=None
            if join_approval_mode is None
            else checks.check_join_approval_mode(join_approval_mode),
        )
        request = endpoints.build("create_group", json=payload, phone_number_id=self._phone(phone_number_id))
        return self._operation(OperationKind.CREATE, await self._send(request), None)

    async def get_group(self, group_id: str, *, fields: Iterable[str] | None = None) -> GroupInfo:
        """Return a group's metadata; every documented field is asked for unless ``fields`` narrows it."""
        wanted = endpoints.GROUP_INFO_FIELDS if fields is None else checks.check_fields(fields)
        request = endpoints.build(
            "get_group",
            params={"fields": ",".join(wanted)} if wanted else None,
            group_id=checks.check_id(group_id, "group_id"),
        )
        return decode.decode_group_info(await self._send(request))

    async def update_group(
        self, group_id: str, *, subject: str | None = None, description: str | None = None
    ) -> TrackedOperation:
        """Change a group's subject and/or description (at least one)."""
        if subject is None and description is None:
            raise ClientValidationError("update_group needs subject=, description= or both", argument="subject")
        payload = endpoints.body(
            subject=None if subject is None else checks.check_subject(subject),
            description=None if description is None else checks.check_description(description),
        )
        gid = checks.check_id(group_id, "group_id")
        decoded = await self._send(endpoints.build("update_group", json=payload, group_id=gid))
        decode.check_success(decoded, "update_group")
        return self._operation(OperationKind.SETTINGS, decoded, gid)

    async def set_group_picture(self, group_id: str, picture: bytes | str | os.PathLike[str]) -> TrackedOperation:
        """Set a group's picture from a path or bytes: a square JPEG of at least 192x192 and at most 5 MB."""
        gid = checks.check_id(group_id, "group_id")
        data, filename = read_upload(picture, argument="picture", max_bytes=endpoints.PICTURE_MAX_BYTES)
        checks.check_picture(data)
        request = endpoints.build(
            "set_group_picture",
            form={"messaging_product": endpoints.MESSAGING_PRODUCT},
            files=(FilePart(name="file", filename=filename, content_type="image/jpeg", data=data),),
            group_id=gid,
        )
        decoded = await self._send(request)
        decode.check_success(decoded, "set_group_picture")
        return self._operation(OperationKind.SETTINGS, decoded, gid)

    async def delete_group(self, group_id: str) -> TrackedOperation:
        """Delete a group and remove every participant, the business included."""
        gid = checks.check_id(group_id, "group_id")
        decoded = await self._send(endpoints.build("delete_group", group_id=gid))
        decode.check_success(decoded, "delete_group")
        return self._operation(OperationKind.DELETE, decoded, gid)

    def iter_groups(
        self,
        *,
        page_size: int | None = None,
        after: str | None = None,
        max_items: int | None = None,
        phone_number_id: str | None = None,
    ) -> Paginator[GroupSummary]:
        """Stream the business number's active groups: ``async for group in client.iter_groups(): ...``.

        Args:
            page_size: Groups per request (Graph's ``limit``, 1..1024; Graph's default is 25).
            after: A cursor from ``page.after`` to resume a listing.
            max_items: Stop after this many groups.
            phone_number_id: Override the client's default business number.

        """
        phone = self._phone(phone_number_id)
        limit = None if page_size is None else str(checks.check_page_size(page_size, endpoints.GROUPS_PAGE_MAX))

        async def fetch(cursor: str | None, want: int | None) -> Page[GroupSummary]:
            size = limit if want is None else str(min(int(limit or endpoints.DEFAULT_PAGE_SIZE), want))
            params = {key: value for key, value in (("limit", size), ("after", cursor)) if value is not None}
            request = endpoints.build("list_groups", params=params or None, phone_number_id=phone)
            return decode.decode_groups_page(await self._send(request))

        return Paginator(fetch, after=after, max_items=max_items)

    # -------------------------------------------------------------------------------------- invite links

    async def get_invite_link(self, group_id: str) -> str:
        """Return the group's current invite link."""
        request = endpoints.build("get_invite_link", group_id=checks.check_id(group_id, "group_id"))
        return decode.decode_invite_link(await self._send(request), "get_invite_link")

    async def reset_invite_link(self, group_id: str) -> str:
        """Replace the group's invite link and return the new one; earlier links stop working."""
        request = endpoints.build(
            "reset_invite_link", json=endpoints.body(), group_id=checks.check_id(group_id, "group_id")
        )
        return decode.decode_invite_link(await self._send(request), "reset_invite_link")

    async def delete_invite_link(self, group_id: str) -> None:
        """Delete the group's invite link."""
        request = endpoints.build(
            "delete_invite_link", json=endpoints.body(), group_id=checks.check_id(group_id, "group_id")
        )
        decode.check_success(await self._send(request), "delete_invite_link")

    # -------------------------------------------------------------------------------------- participants

    async def add_participants(self, group_id: str, users: Sequence[str]) -> TrackedOperation:
        """Add 1..8 people (phone numbers in any common spelling, or WhatsApp ids) to a group."""
        gid = checks.check_id(group_id, "group_id")
        payload = endpoints.participants_body(checks.check_users(users))
        decoded = await self._send(endpoints.build("add_participants", json=payload, group_id=gid))
        return self._operation(OperationKind.PARTICIPANTS_ADD, decoded, gid)

    async def remove_participants(self, group_id: str, users: Sequence[str]) -> TrackedOperation:
        """Remove 1..8 participants from a group; the outcome per person arrives in a webhook."""
        gid = checks.check_id(group_id, "group_id")
        payload = endpoints.participants_body(checks.check_users(users))
        decoded = await self._send(endpoints.build("remove_participants", json=payload, group_id=gid))
        return self._operation(OperationKind.PARTICIPANTS_REMOVE, decoded, gid)

    # ------------------------------------------------------------------------------------- join requests

    def iter_join_requests(
        self, group_id: str, *, page_size: int | None = None, after: str | None = None, max_items: int | None = None
    ) -> Paginator[JoinRequest]:
        """Stream a group's open join requests: ``async for request in client.iter_join_requests(gid): ...``.

        ``page_size`` is sent as ``limit`` (Graph does not document one for this listing; 1..1024 accepted).
        """
        gid = checks.check_id(group_id, "group_id")
        limit = None if page_size is None else str(checks.check_page_size(page_size, endpoints.JOIN_REQUESTS_PAGE_MAX))

        async def fetch(cursor: str | None, want: int | None) -> Page[JoinRequest]:
            size = limit if want is None else str(min(int(limit or endpoints.DEFAULT_PAGE_SIZE), want))
            params = {key: value for key, value in (("limit", size), ("after", cursor)) if value is not None}
            request = endpoints.build("list_join_requests", params=params or None, group_id=gid)
            return decode.decode_join_requests_page(await self._send(request))

        return Paginator(fetch, after=after, max_items=max_items)

    async def approve_join_requests(self, group_id: str, join_request_ids: Sequence[str]) -> JoinRequestsResult:
        """Approve join requests; the result lists the ids approved and, per id, why others failed."""
        return await self._answer_join_requests("approve_join_requests", group_id, join_request_ids)

    async def reject_join_requests(self, group_id: str, join_request_ids: Sequence[str]) -> JoinRequestsResult:
        """Reject join requests; the result lists the ids rejected and, per id, why others failed."""
        return await self._answer_join_requests("reject_join_requests", group_id, join_request_ids)

    async def _answer_join_requests(self, operation: str, group_id: str, ids: Sequence[str]) -> JoinRequestsResult:
        gid = checks.check_id(group_id, "group_id")
        payload = endpoints.body(join_requests=checks.check_join_request_ids(ids))
        decoded = await self._send(endpoints.build(operation, json=payload, group_id=gid))
        return decode.decode_join_requests_result(decoded, operation)

    # ------------------------------------------------------------------------------------------ messages

    async def send_invite_link_template(
        self,
        to: str,
        *,
        group_id: str,
        template_name: str,
        language: str = "en",
        phone_number_id: str | None = None,
    ) -> SentMessage:
        """Send a group invite link template (from Meta's template library) to one person.

        Never retried after an ambiguous failure, so the person never gets the message twice.
        """
        recipient = checks.normalise_user(to, "to")
        if not isinstance(template_name, str) or not template_name.strip():
            raise ClientValidationError(
                f"template_name must be a non-empty string, got {template_name!r}", argument="template_name"
            )
        if not isinstance(language, str) or not language.strip():
            raise ClientValidationError(
                f"language must be a language code such as 'en', got {language!r}", argument="language"
            )
        payload = endpoints.invite_template_body(
            recipient, checks.check_id(group_id, "group_id"), template_name, language
        )
        request = endpoints.build(
            "send_invite_link_template", json=payload, phone_number_id=self._phone(phone_number_id)
        )
        answer = await self._send(request)
        try:
            return decode.decode_sent_message(answer)
        except ResponseError as error:  # the message was accepted: sending it again would duplicate it
            error.mark_outcome_unknown()
            raise

    # ----------------------------------------------------------------------------------- group messages

    async def send_message(
        self, group_id: str, message: Mapping[str, Any], *, phone_number_id: str | None = None
    ) -> TrackedMessage:
        """Send any message to a group: ``message`` is its type-specific part, e.g. ``{"type": "text", ...}``.

        The builders :func:`wa_groups.text_message`, :func:`wa_groups.media_message` and
        :func:`wa_groups.template_message` make such parts. Types Meta documents as unsupported in groups
        (``interactive``, commerce messages...) are refused before any request. The send is never repeated
        after an ambiguous failure (a 5xx, a timeout, a dropped connection: the error then has
        ``outcome_unknown=True``); throttling answers are retried.

        Returns:
            The sent message: ``message_id``, ``group_id``, and with a receiver attached ``await msg.wait()``,
            ``msg.delivered_to`` and ``msg.read_by``.

        Raises:
            ClientValidationError: The message cannot go to a group, or an argument is invalid.
            APIError: Graph refused it; group codes (131020 before anyone joined, 131041 unknown group...) come
                with an explanation in the message.

        """
        gid = checks.check_id(group_id, "group_id")
        body = messages.group_message_body(gid, messages.check_group_message(message))
        return await self._send_to_group("send_message", gid, body, phone_number_id)

    async def send_text(
        self,
        group_id: str,
        text: str,
        *,
        preview_url: bool | None = None,
        reply_to: str | None = None,
        phone_number_id: str | None = None,
    ) -> TrackedMessage:
        """Send a text message (1..4096 characters) to a group; ``reply_to`` quotes a message by its ``wamid``."""
        message = message_builders.text_message(text, preview_url=preview_url, reply_to=reply_to)
        return await self.send_message(group_id, message, phone_number_id=phone_number_id)

    async def send_media(
        self,
        group_id: str,
        media_type: str,
        *,
        link: str | None = None,
        media_id: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        reply_to: str | None = None,
        phone_number_id: str | None = None,
    ) -> TrackedMessage:
        """Send an ``image``, ``video``, ``audio`` or ``document`` to a group, by ``link`` or uploaded ``media_id``."""
        message = message_builders.media_message(
            media_type, link=link, media_id=media_id, caption=caption, filename=filename, reply_to=reply_to
        )
        return await self.send_message(group_id, message, phone_number_id=phone_number_id)

    async def send_template(
        self,
        group_id: str,
        name: str,
        language: str,
        *,
        components: Sequence[Mapping[str, Any]] | None = None,
        phone_number_id: str | None = None,
    ) -> TrackedMessage:
        """Send an approved template to a group; only text- and media-based templates are allowed in groups.

        Authentication templates cannot be told from the request, so Graph refuses them; the error's message
        then says that this may be the reason.
        """
        message = message_builders.template_message(name, language, components=components)
        return await self.send_message(group_id, message, phone_number_id=phone_number_id)

    async def pin_message(
        self, group_id: str, message_id: str, days: int, *, phone_number_id: str | None = None
    ) -> SentMessage:
        """Pin a group message for ``days`` (1..30) days; only the group admin (the business) may pin.

        At most 3 messages are pinned at once: pinning a fourth unpins the oldest. Returns the pin action's
        own message (Graph gives it a new ``wamid``).
        """
        gid = checks.check_id(group_id, "group_id")
        body = messages.pin_body(gid, message_id, messages.check_pin_days(days))
        return await self._send_to_group("pin_message", gid, body, phone_number_id)

    async def unpin_message(self, group_id: str, message_id: str, *, phone_number_id: str | None = None) -> SentMessage:
        """Unpin a pinned group message; returns the unpin action's own message."""
        gid = checks.check_id(group_id, "group_id")
        body = messages.pin_body(gid, message_id, None)
        return await self._send_to_group("pin_message", gid, body, phone_number_id)

    async def _send_to_group(
        self, operation: str, group_id: str, body: dict[str, Any], phone_number_id: str | None
    ) -> TrackedMessage:
        request = endpoints.build(operation, json=body, phone_number_id=self._phone(phone_number_id))
        try:
            answer = await self._send(request)
        except APIError as error:
            error.message = explain(error.code, error.message)
            if (
                body.get("type") == "template"
                and isinstance(error, (InvalidRequestError, PermissionDeniedError))
                and error.code not in ERROR_EXPLANATIONS
            ):
                error.message = f"{error.message} ({messages.AUTH_TEMPLATE_HINT})"
            raise
        try:
            sent = messages.decode_group_send(answer, group_id, operation)
        except ResponseError as error:  # the message was accepted: sending it again would duplicate it
            error.mark_outcome_unknown()
            raise
        return TrackedMessage(
            message_id=sent.message_id,
            group_id=sent.group_id,
            wa_id=sent.wa_id,
            input=sent.input,
            user_id=sent.user_id,
            message_status=sent.message_status,
            tracker=self._deliveries,
        )

    async def broadcast(
        self,
        message: Mapping[str, Any],
        group_ids: Iterable[str] | None = None,
        *,
        concurrency: int = 16,
        on_progress: BulkProgressCallback | None = None,
        resume: BulkResult | None = None,
        result: BulkResult | None = None,
        resend_unknown: bool = False,
        phone_number_id: str | None = None,
    ) -> BulkResult:
        """Send one message to many groups: the given ones, or every active group (streamed) when ``None``.

        Each group gets one request under one concurrency limit; a throttled job pauses as a whole. The result's
        items are group ids; ``result.details[group_id]`` is the ``wamid`` sent there. A group whose send had an
        unknown outcome (its answer was lost) is never sent to again when resuming, unless ``resend_unknown``.

        Args:
            message: The message's type-specific part (see :meth:`send_message`), checked once before anything.
            group_ids: The groups, or ``None`` for every active group of the business number.
            concurrency: Requests in flight at most, the listing included.
            on_progress: Called with a :class:`~wa_groups.bulk.BulkProgress` after each send.
            resume: An earlier broadcast's result: groups it did not reach are sent to now.
            result: A result to fill in place, so that a cancelled task's partial result stays reachable.
            resend_unknown: Send again to groups whose earlier send may or may not have gone out.
            phone_number_id: Override the client's default business number.

        """
        return await run_broadcast(
            self,
            message,
            group_ids=group_ids,
            concurrency=concurrency,
            on_progress=on_progress,
            resume=resume,
            result=result,
            resend_unknown=resend_unknown,
            phone_number_id=phone_number_id,
        )

    def track_message(self, group_id: str, message_id: str) -> TrackedMessage:
        """Return a handle on a group message sent earlier, whose delivery the attached receiver follows.

        Use it for the messages of a broadcast (``result.details`` maps each group to its ``wamid``) or of
        an earlier process. Statuses that arrived before the handle was made are not lost (the tracker keeps
        a bounded number of messages).
        """
        return TrackedMessage(
            message_id=checks.check_id(message_id, "message_id"),
            group_id=checks.check_id(group_id, "group_id"),
            tracker=self._deliveries,
        )

    # ------------------------------------------------------------------------------------------ webhooks

    def attach(self, receiver: WebhookReceiver) -> None:
        """Feed ``receiver``'s events to this client so ``await operation.wait()`` resolves.

        Attach before starting the operations you want to wait for.
        """
        if self._tracker is None:
            self._tracker = OperationTracker()
        if self._deliveries is None:
            self._deliveries = DeliveryTracker()
        receiver.add_listener(self._tracker.feed)
        receiver.add_listener(self._deliveries.feed)

    # -------------------------------------------------------------------------------------------- bulk

    async def bulk_approve_join_requests(
        self, group_id: str, join_request_ids: Iterable[str] | None = None, **options: Unpack[JobOptions]
    ) -> BulkResult:
        """Approve many join requests (all open ones when ``join_request_ids`` is None) in batches of 8.

        Args:
            group_id: The group.
            join_request_ids: The ids to approve; ``None`` streams every open request, restarting the listing
                when its cursor goes stale, until none is left that was not tried.
            options: The job options of :class:`~wa_groups.bulk.JobOptions`: ``concurrency`` (requests in
                flight at most, listings included; 8), ``batch_size`` (ids per request, at most 8),
                ``on_progress`` (called with a :class:`~wa_groups.bulk.BulkProgress` after each batch),
                ``resume`` (an earlier result: its not-attempted items and retryable failures run again, and items
                of unknown outcome are settled by looking at the group first), ``result`` (a
                :class:`~wa_groups.bulk.BulkResult` filled in place, so a cancelled task's partial result stays
                reachable), ``stop`` (an ``asyncio.Event``: once set, nothing new is sent and the batches in
                flight are waited for) and ``checkpoint`` (a path or callable kept up to date with a resumable
                copy of the result while the job runs; ``checkpoint_interval`` seconds apart, 2 by default).

        Returns:
            The result, in which every distinct id is succeeded, failed or not attempted.
        """
        return await run_join_requests(self, "approve", group_id, join_request_ids, **options)

    async def bulk_reject_join_requests(
        self, group_id: str, join_request_ids: Iterable[str] | None = None, **options: Unpack[JobOptions]
    ) -> BulkResult:
        """Reject many join requests (all open ones when ``join_request_ids`` is None) in batches of 8.

        The arguments are those of :meth:`bulk_approve_join_requests`.
        """
        return await run_join_requests(self, "reject", group_id, join_request_ids, **options)

    async def bulk_add_participants(
        self, group_id: str, users: Iterable[str], **options: Unpack[JobOptions]
    ) -> BulkResult:
        """Add many participants in batches of at most 8.

        ``users`` are phone numbers in any common spelling or WhatsApp ids; duplicates are sent once. The
        options are those of :meth:`bulk_approve_join_requests`.
        """
        return await run_participants(self, "add", group_id, users, **options)

    async def bulk_remove_participants(
        self, group_id: str, users: Iterable[str], **options: Unpack[JobOptions]
    ) -> BulkResult:
        """Remove many participants in batches of at most 8 (arguments as in :meth:`bulk_add_participants`)."""
        return await run_participants(self, "remove", group_id, users, **options)

    async def approve_all_join_requests(
        self,
        *,
        group_ids: Iterable[str] | None = None,
        reject: bool = False,
        phone_number_id: str | None = None,
        **options: Unpack[ReportOptions],
    ) -> BulkReport:
        """Approve (or with ``reject=True`` reject) every open join request of every active group.

        Groups and their requests are streamed; all batches of all groups share one concurrency limit (16 by
        default). ``group_ids`` limits the job to those groups; ``result=`` takes a
        :class:`~wa_groups.bulk.BulkReport` to fill in place and ``resume=`` an earlier report; the other
        options are those of :meth:`bulk_approve_join_requests`.
        """
        return await run_all_join_requests(
            self, group_ids=group_ids, reject=reject, phone_number_id=phone_number_id, **options
        )
