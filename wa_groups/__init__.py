"""wa_groups: an async client for the WhatsApp Business Cloud API Groups API.

Create and manage groups, stream every group and join request with ``async for``, run bulk jobs in
batches of 8 under a concurrency limit, and receive the group webhooks. ``wa_groups.testing`` holds a
stateful fake Graph server to test applications against.
"""

from ._core.retry import RetryPolicy
from ._version import __version__
from .client import GroupsClient
from .errors import (
    APIError,
    AuthenticationError,
    ClientValidationError,
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
from .models import (
    ErrorDetail,
    FailedJoinRequest,
    GroupInfo,
    GroupOperation,
    GroupSummary,
    JoinApprovalMode,
    JoinRequest,
    JoinRequestsResult,
    Page,
    Participant,
    SentMessage,
)
from .paging import Paginator

__all__ = [
    "APIError",
    "AuthenticationError",
    "ClientValidationError",
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
    "NotFoundError",
    "Page",
    "PaginationError",
    "Paginator",
    "Participant",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseError",
    "RetryPolicy",
    "SentMessage",
    "ServerError",
    "TransportError",
    "UnconfirmedError",
    "WAGroupsError",
    "WebhookPayloadError",
    "WebhookVerificationError",
    "__version__",
]
