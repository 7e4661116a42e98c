"""Bulk jobs: batches of at most 8 under one concurrency limit, a shared throttle pause, and a full report.

Every distinct input item ends in exactly one of :attr:`BulkResult.succeeded`, :attr:`BulkResult.failed` or
:attr:`BulkResult.not_attempted`. A job's requests, listings included, run under one concurrency limit; when the
server asks to slow down, the whole job pauses once for the demanded wait, and when it does not say how long,
the job paces itself just above the rate the server accepts.

``results`` holds what a job reports, ``gate`` its admission control, ``engine`` the backend-neutral batch
runner, and ``graph`` the Graph jobs the client's ``bulk_*`` methods run.
"""

from .engine import JobOptions, ReportOptions
from .results import BulkFailure, BulkProgress, BulkProgressCallback, BulkReport, BulkResult

__all__ = [
    "BulkFailure",
    "BulkProgress",
    "BulkProgressCallback",
    "BulkReport",
    "BulkResult",
    "JobOptions",
    "ReportOptions",
]
