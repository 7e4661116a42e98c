"""What the WUTS commands share: how users are named and the table of a participants call's outcomes."""

from __future__ import annotations

from .._core.plain import plain_data
from ..wuts import ParticipantAction, ParticipantsResult
from ..wuts._protocol import participant_outcomes
from ._context import Context, ExitStatus
from ._output import format_count, format_table, plural

#: The help of the USER arguments.
USERS_HELP = "phone numbers (any usual spelling), user JIDs or LIDs"


def print_outcomes(
    ctx: Context, operation: str, action: ParticipantAction, sent: list[str], answer: ParticipantsResult
) -> int:
    """Print which participants one call handled; return 1 when WUTS did not handle them all."""
    succeeded, failed = participant_outcomes(action, sent, answer)
    if ctx.json:
        ctx.out_json({"action": operation, "succeeded": succeeded, "failed": failed, "answer": plain_data(answer)})
    else:
        done = {ParticipantAction.ADD: "added", ParticipantAction.REMOVE: "removed"}.get(action, f"{action.value}d")
        rows = [(item, done if item in succeeded else f"failed: {failed[item]}") for item in sent]
        ctx.out(format_table(("PARTICIPANT", "RESULT"), rows))
        ctx.out(f"{operation}: {format_count(len(succeeded))} of {plural(len(sent), 'participant')} {done}")
    return ExitStatus.OK if not failed else ExitStatus.FAILED
