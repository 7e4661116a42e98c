"""wa_groups: an async client for the WhatsApp Business Cloud API Groups API.

Create and manage groups, stream every group and join request with ``async for``, run bulk jobs in
batches of 8 under a concurrency limit, and receive the group webhooks. ``wa_groups.testing`` holds a
stateful fake Graph server to test applications against.
"""

from ._core.retry import RetryPolicy
from ._version import __version__
from .bulk import BulkFailure, BulkProgress, BulkReport, BulkResult, JobOptions, ReportOptions
from .client import GroupsClient
from .errors import (
    APIError,
    AuthenticationError,
    ClientValidationError,
    DeviceNotReadyError,
    InvalidCursorError,
    InvalidRequestError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ResponseError,
    ServerError,
    TransportError,
    UnconfirmedError,
    WAGroupsError,
    WebhookPayloadError,
    WebhookVerificationError,
)
from .messages import media_message, template_message, text_message
from .models import (
    ErrorDetail,
    FailedJoinRequest,
    GroupInfo,
    GroupMessage,
    GroupOperation,
    GroupSummary,
    JoinApprovalMode,
    JoinRequest,
    JoinRequestsResult,
    OperationKind,
    Page,
    Participant,
    SentMessage,
    UserRef,
)
from .paging import Paginator
from .webhooks.delivery import TrackedMessage
from .webhooks.tracking import TrackedOperation

__all__ = [
    "APIError",
    "AuthenticationError",
    "BulkFailure",
    "BulkProgress",
    "BulkReport",
    "BulkResult",
    "ClientValidationError",
    "DeviceNotReadyError",
    "ErrorDetail",
    "FailedJoinRequest",
    "GroupInfo",
    "GroupOperation",
    "GroupSummary",
    "GroupsClient",
    "InvalidCursorError",
    "InvalidRequestError",
    "JoinApprovalMode",
    "JoinRequest",
    "JoinRequestsResult",
    "JobOptions",
    "NotFoundError",
    "OperationKind",
    "Page",
    "PaginationError",
    "Paginator",
    "Participant",
    "PermissionDeniedError",
    "RateLimitError",
    "ReportOptions",
    "ResponseError",
    "RetryPolicy",
    "SentMessage",
    "ServerError",
    "TrackedOperation",
    "TransportError",
    "UnconfirmedError",
    "WAGroupsError",
    "WebhookPayloadError",
    "WebhookVerificationError",
    "__version__",
    "GroupMessage",
    "TrackedMessage",
    "UserRef",
    "media_message",
    "template_message",
    "text_message",
]
