"""Bulk jobs: batches of at most 8 under one concurrency limit, a shared throttle pause, and a full report.

Every distinct input item ends in exactly one of :attr:`BulkResult.succeeded`, :attr:`BulkResult.failed` or
:attr:`BulkResult.not_attempted`. A job's requests, listings included, run under one concurrency limit; when the
server asks to slow down, the whole job pauses once for the demanded wait, and when it does not say how long,
the job paces itself just above the rate the server accepts.

Items are reported as the caller spelt them. A job can be stopped gently (``stop=``), keeps a resumable
checkpoint while it runs (``checkpoint=``), and a resumed job settles items of unknown outcome by looking at the
server before sending anything again.

``results`` holds what a job reports, ``options`` what a job is told, ``state`` what it holds per group,
``gate`` its admission control, ``engine`` the backend-neutral batch runner (``Job``),
``checkpoint`` the checkpoint writer, ``resume`` the resuming of an earlier result, ``items`` the one-group job
any backend runs; ``graph`` holds the Graph jobs the client's ``bulk_*`` methods run (on ``graph_calls``,
``graph_batches``, ``graph_settle`` and ``graph_stream``), and ``broadcast`` the broadcast of a message.
"""

from .options import JobDefaults, JobOptions, ReportOptions, job_defaults
from .results import BulkFailure, BulkProgress, BulkProgressCallback, BulkReport, BulkResult

__all__ = [
    "BulkFailure",
    "BulkProgress",
    "BulkProgressCallback",
    "BulkReport",
    "BulkResult",
    "JobDefaults",
    "JobOptions",
    "ReportOptions",
    "job_defaults",
]
