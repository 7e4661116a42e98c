"""What a bulk job reports: progress snapshots, failures, per-group results and cross-group reports (data).

Every distinct input item ends in exactly one of :attr:`BulkResult.succeeded`, :attr:`BulkResult.failed` or
:attr:`BulkResult.not_attempted`. Results and reports survive a JSON round trip, which is how a job is resumed
from a file.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from .. import errors as errors_module
from ..errors import ClientValidationError, TransportError, WAGroupsError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["BulkFailure", "BulkProgress", "BulkProgressCallback", "BulkReport", "BulkResult", "accounted_items"]


@attrs.frozen(kw_only=True)
class BulkProgress:
    """A snapshot of a running bulk job, passed to ``on_progress``."""

    done: int
    """Items finished so far (succeeded plus failed)."""

    total: int | None
    """Items known in all, or ``None`` while the input is still being streamed."""

    succeeded: int
    """Items that succeeded so far."""

    failed: int
    """Items that failed so far."""


#: ``on_progress`` callables: plain functions or coroutine functions taking a :class:`BulkProgress`.
BulkProgressCallback = Callable[[BulkProgress], "Awaitable[None] | None"]


@attrs.frozen(kw_only=True)
class BulkFailure:
    """An item that failed, with the group it belongs to and the reason."""

    item: str
    """The join request id or participant."""

    group_id: str
    """The group concerned."""

    error: WAGroupsError
    """Why it failed: the batch's error, or the per-item error Graph reported (as an ``APIError``)."""

    @property
    def code(self) -> int | None:
        """The Graph error code of the failure, when there is one (e.g. 131204 for a full group)."""
        return self.error.code if isinstance(self.error, errors_module.APIError) else None

    @property
    def retryable(self) -> bool:
        """True when trying the item again may succeed (throttling, server or network trouble)."""
        return self.error.retryable or self.error.outcome_unknown


def _error_to_dict(error: WAGroupsError) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type(error).__name__, "message": str(error.args[0]) if error.args else str(error)}
    for key in ("http_status", "code", "subcode", "title", "details", "fbtrace_id", "retry_after"):
        value = getattr(error, key, None)
        if value is not None:
            data[key] = value
    if isinstance(error, errors_module.APIError) and error.type is not None:
        data["error_type"] = error.type  # Graph's error type, or a gateway's error code
    data["retryable"] = error.retryable
    data["outcome_unknown"] = error.outcome_unknown
    return data


def _error_from_dict(data: dict[str, Any]) -> WAGroupsError:
    cls = getattr(errors_module, str(data.get("type")), None)
    message = str(data.get("message", "error"))
    error: WAGroupsError
    if isinstance(cls, type) and issubclass(cls, errors_module.APIError):
        error = cls(
            message,
            http_status=data.get("http_status"),
            code=data.get("code"),
            subcode=data.get("subcode"),
            title=data.get("title"),
            details=data.get("details"),
            fbtrace_id=data.get("fbtrace_id"),
            retry_after=data.get("retry_after"),
            type=data.get("error_type"),
        )
    elif cls is TransportError:
        error = TransportError(message)
    elif cls is errors_module.UnconfirmedError:
        error = errors_module.UnconfirmedError(message, code=data.get("code"))
    else:
        error = WAGroupsError(message)
    error.retryable = bool(data.get("retryable", error.retryable))
    error.outcome_unknown = bool(data.get("outcome_unknown", False))
    return error


class _JsonReport:
    """JSON round trip for the report classes, on top of their ``to_dict`` / ``from_dict``."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        raise NotImplementedError

    def to_json(self) -> str:
        """Serialise as JSON."""
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Rebuild from :meth:`to_json` output; anything else raises ``ClientValidationError``."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ClientValidationError(
                f"not a bulk {cls.__name__[4:].lower()}: invalid JSON ({exc})", argument="resume"
            ) from None
        if not isinstance(data, dict):
            raise ClientValidationError(
                f"not a bulk {cls.__name__[4:].lower()}: expected a JSON object", argument="resume"
            )
        return cls.from_dict(data)


@attrs.define(kw_only=True)
class BulkResult(_JsonReport):
    """What a bulk job did with every item.

    Invariant: every distinct input item is in exactly one of ``succeeded``, ``failed`` and ``not_attempted``.
    The object is filled while the job runs; pass your own (``result=``) to keep the partial result if the
    task is cancelled.
    """

    action: str = ""
    """The job: ``approve_join_requests``, ``reject_join_requests``, ``add_participants`` or ``remove_participants``."""

    group_id: str = ""
    """The group the job ran on."""

    succeeded: list[str] = attrs.field(factory=list)
    """Items that succeeded."""

    failed: list[BulkFailure] = attrs.field(factory=list)
    """Items that failed, each with its error."""

    not_attempted: list[str] = attrs.field(factory=list)
    """Items never sent because the job stopped or was cancelled."""

    stopped_by: WAGroupsError | None = None
    """The error that stopped the job early (e.g. an invalid token or a listing that kept failing), if any."""

    exhausted: bool = False
    """True once the job's input was read to its end (for streamed inputs: every open request was tried)."""

    running: bool = False
    """True in a checkpoint written while the job was still running. The process may have been killed just
    after: items it lists as not attempted may have been sent since, so a resumed job settles them by looking
    before sending any."""

    duplicates: dict[str, str] = attrs.field(factory=dict)
    """Input items dropped as repeats of an earlier one: the later spelling -> the first spelling, which is the
    one reported (e.g. ``{"16505550000": "+1 650 555 0000"}``). Items are always reported as the caller spelt
    them first; matching repeats is done on the normalised form."""

    requesters: dict[str, str] = attrs.field(factory=dict)
    """Join request id -> the requester's WhatsApp id, where a listing showed it. A resumed job uses it to check
    whether a request whose answer was lost was carried out (the requester is now a participant). Only the
    entries of items still to settle are written to JSON."""

    details: dict[str, str] = attrs.field(factory=dict)
    """What a job learnt per succeeded item, when it learns something (a broadcast: group id -> ``wamid``)."""

    @property
    def ok(self) -> bool:
        """True when every item succeeded and the job ran to its end."""
        return not self.failed and not self.not_attempted and self.stopped_by is None and not self.running

    @property
    def total(self) -> int:
        """Items accounted for."""
        return len(self.succeeded) + len(self.failed) + len(self.not_attempted)

    @property
    def counts(self) -> dict[str, int]:
        """Counts per outcome."""
        return {
            "succeeded": len(self.succeeded),
            "failed": len(self.failed),
            "not_attempted": len(self.not_attempted),
            "total": self.total,
        }

    def retry_items(self) -> list[str]:
        """Return the items a resumed job runs again: not attempted ones and retryable failures."""
        return self.not_attempted + [failure.item for failure in self.failed if failure.retryable]

    def account_for(self, items: Iterable[str] = ()) -> list[str]:
        """Keep every item in one outcome only, and record as not attempted each of ``items`` that has none.

        This is the one accounting rule of a job that ends early (stopped, cancelled or killed) and of the
        reports built from one: an item listed as not attempted that also succeeded or failed keeps that
        outcome, repeats in :attr:`not_attempted` are listed once, and an item the result does not mention
        was not attempted (so a resumed job does it).

        Returns:
            The items newly recorded as not attempted, in their order.

        """
        done = set(self.succeeded) | {failure.item for failure in self.failed}
        if self.not_attempted:
            self.not_attempted[:] = [item for item in dict.fromkeys(self.not_attempted) if item not in done]
        accounted = done | set(self.not_attempted)
        added = [item for item in dict.fromkeys(items) if item not in accounted]
        self.not_attempted.extend(added)
        return added

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the result."""
        return {
            "action": self.action,
            "group_id": self.group_id,
            "counts": self.counts,
            "ok": self.ok,
            "exhausted": self.exhausted,
            "running": self.running,
            "succeeded": list(self.succeeded),
            "failed": [{"item": f.item, "group_id": f.group_id, "error": _error_to_dict(f.error)} for f in self.failed],
            "not_attempted": list(self.not_attempted),
            "stopped_by": None if self.stopped_by is None else _error_to_dict(self.stopped_by),
            "duplicates": dict(self.duplicates),
            "requesters": self._open_requesters(),
            **({"details": dict(self.details)} if self.details else {}),
        }

    def _open_requesters(self) -> dict[str, str]:
        if not self.requesters:
            return {}
        open_items = set(self.not_attempted) | {f.item for f in self.failed if f.retryable}
        return {item: user for item, user in self.requesters.items() if item in open_items}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BulkResult:
        """Rebuild a result from :meth:`to_dict` output."""
        try:
            return cls(
                action=str(data.get("action", "")),
                group_id=str(data.get("group_id", "")),
                succeeded=[str(i) for i in data.get("succeeded", [])],
                failed=[
                    BulkFailure(item=str(f["item"]), group_id=str(f["group_id"]), error=_error_from_dict(f["error"]))
                    for f in data.get("failed", [])
                ],
                not_attempted=[str(i) for i in data.get("not_attempted", [])],
                stopped_by=None if not data.get("stopped_by") else _error_from_dict(data["stopped_by"]),
                exhausted=bool(data.get("exhausted", False)),
                running=bool(data.get("running", False)),
                duplicates={str(k): str(v) for k, v in (data.get("duplicates") or {}).items()},
                requesters={str(k): str(v) for k, v in (data.get("requesters") or {}).items()},
                details={str(k): str(v) for k, v in (data.get("details") or {}).items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ClientValidationError(f"not a bulk result: {exc!r}", argument="resume") from None


@attrs.define(kw_only=True)
class BulkReport(_JsonReport):
    """The report of :meth:`~wa_groups.GroupsClient.approve_all_join_requests`: one :class:`BulkResult` per group."""

    action: str = "approve_join_requests"
    """``approve_join_requests`` or ``reject_join_requests``."""

    groups: dict[str, BulkResult] = attrs.field(factory=dict)
    """Each group's result, by group id."""

    groups_exhausted: bool = False
    """True once every group was listed."""

    stopped_by: WAGroupsError | None = None
    """The error that stopped the job early, if any."""

    @property
    def succeeded(self) -> int:
        """Items that succeeded, all groups together."""
        return sum(len(r.succeeded) for r in self.groups.values())

    @property
    def failed(self) -> int:
        """Items that failed, all groups together."""
        return sum(len(r.failed) for r in self.groups.values())

    @property
    def not_attempted(self) -> int:
        """Items not attempted, all groups together."""
        return sum(len(r.not_attempted) for r in self.groups.values())

    @property
    def total(self) -> int:
        """Items accounted for, all groups together."""
        return self.succeeded + self.failed + self.not_attempted

    @property
    def counts(self) -> dict[str, int]:
        """Totals per outcome, and the number of groups."""
        return {
            "groups": len(self.groups),
            "succeeded": self.succeeded,
            "failed": self.failed,
            "not_attempted": self.not_attempted,
            "total": self.total,
        }

    @property
    def ok(self) -> bool:
        """True when every group's job succeeded whole and every group was reached."""
        return self.groups_exhausted and self.stopped_by is None and all(r.ok for r in self.groups.values())

    def account_for(self) -> None:
        """Keep each item of every group in one outcome only (see :meth:`BulkResult.account_for`)."""
        for result in self.groups.values():
            result.account_for()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the report."""
        return {
            "action": self.action,
            "counts": self.counts,
            "ok": self.ok,
            "groups_exhausted": self.groups_exhausted,
            "stopped_by": None if self.stopped_by is None else _error_to_dict(self.stopped_by),
            "groups": {gid: result.to_dict() for gid, result in self.groups.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BulkReport:
        """Rebuild a report from :meth:`to_dict` output."""
        groups = data.get("groups")
        if not isinstance(groups, dict):
            raise ClientValidationError("not a bulk report: 'groups' is missing", argument="resume")
        return cls(
            action=str(data.get("action", "approve_join_requests")),
            groups={str(gid): BulkResult.from_dict(value) for gid, value in groups.items()},
            groups_exhausted=bool(data.get("groups_exhausted", False)),
            stopped_by=None if not data.get("stopped_by") else _error_from_dict(data["stopped_by"]),
        )


def accounted_items(result: BulkResult) -> set[str]:
    """Return the items ``result`` already places in one of its three outcomes (see :meth:`BulkResult.account_for`)."""
    return set(result.succeeded) | {f.item for f in result.failed} | set(result.not_attempted)
