"""Arguments several commands share: value types, the bulk-job options, the users of a participants command."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Awaitable, Callable, Sequence

from .._graph.checks import normalise_user
from .._graph.endpoints import GROUPS_PAGE_MAX, PARTICIPANTS_PER_CALL
from ..errors import ClientValidationError
from ._context import Context, usage

#: Requests (or batches) a bulk job sends at the same time unless ``--concurrency`` says otherwise.
DEFAULT_CONCURRENCY = 8

#: The invite-link actions both backends have: (name, summary).
INVITE_LINK_ACTIONS = (
    ("get", "print the group's invite link"),
    ("reset", "replace the invite link (earlier links stop working) and print the new one"),
)
#: The participants actions both backends have: (name, summary).
PARTICIPANT_ACTIONS = (("add", "add people to a group"), ("remove", "remove participants from a group"))

#: Signature of the helper that adds a sub-command with the global options: (parent, name, summary, **kwargs).
CommandAdder = Callable[..., argparse.ArgumentParser]
#: A command's handler: it returns the exit status.
Handler = Callable[[Context], Awaitable[int]]


def int_in(low: int, high: int | None, what: str) -> Callable[[str], int]:
    """Return an argparse type reading a whole number in low..high (no upper bound when high is None)."""

    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"{low}..{high}"
            raise argparse.ArgumentTypeError(f"expected {what} {bound}, got {text!r}")
        return value

    return read


positive_int = int_in(1, None, "a whole number")
count = int_in(0, None, "a whole number")
port = int_in(0, 65535, "a port number")
groups_page_size = int_in(1, GROUPS_PAGE_MAX, "a page size")

#: A phone number as people write it: digits with an optional leading ``+`` and spaces, dots, dashes, brackets.
_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]*$")
#: A business-scoped user id: a two-letter country code, a dot, then up to 128 letters and digits.
_BSUID = re.compile(r"^[A-Za-z]{2}\.[A-Za-z0-9]{1,128}$")
_PHONE_EXAMPLE = "e.g. +1 555 070 0004"


def international(value: str) -> str:
    """Return a phone number written with the ``00`` international prefix in ``+`` form; other values as given.

    ``"00 1 555 070 0004"`` becomes ``"+1 555 070 0004"``. A number that starts with a single ``0`` is a
    national number, which names nobody without its country code: it is refused.

    Raises:
        CommandError: The value is a phone number without its country code (status 2).

    """
    text = value.strip()
    if not _PHONE.match(text):
        return value
    digits = re.sub(r"\D", "", text)
    if not text.startswith("+") and digits.startswith("00"):
        return "+" + text.lstrip()[2:].lstrip(" ().-")
    if digits.startswith("0"):
        raise usage(f"{value!r} has no country code: write it in international form ({_PHONE_EXAMPLE})")
    return value


def graph_user(value: str) -> str:
    """Return a participant as Graph takes it: the digits of a phone number, or a business-scoped user id.

    The library's :func:`~wa_groups._graph.checks.normalise_user` does the normalising; the command refuses, in
    addition, what is neither a phone number nor a business-scoped user id (``CC.`` then up to 128 letters and
    digits), naming the value.

    Raises:
        CommandError: The value is not a participant (status 2).

    """
    text = international(value).strip()
    if not (_PHONE.match(text) or _BSUID.match(text)):
        raise usage(
            f"{value!r} is not a participant: give a phone number with its country code ({_PHONE_EXAMPLE}) or "
            "a business-scoped user id (a country code, a dot, then up to 128 letters and digits: US.1234...)"
        )
    try:
        return normalise_user(text, "USER")
    except ClientValidationError as error:
        raise usage(str(error)) from None


def seconds(text: str) -> float:
    """Read a finite number of seconds >= 0 (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def bulk_options(parser: argparse.ArgumentParser, *, concurrency_help: str) -> None:
    """Add ``--concurrency``, ``--report``, ``--resume`` and ``--force``."""
    parser.add_argument("--concurrency", type=positive_int, metavar="N", help=concurrency_help)
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="keep the JSON report here, up to date while the job runs and on Ctrl-C (default: the --resume "
        "FILE, else a new file named after the job, e.g. wa-groups-add-participants-GROUP-20261130T140501Z.json)",
    )
    parser.add_argument("--resume", metavar="FILE", help="continue the job recorded in this report")
    parser.add_argument(
        "--force",
        action="store_true",
        help="let --report FILE replace the report of another job that is not finished",
    )


def group_actions(
    parser: argparse.ArgumentParser,
    command: CommandAdder,
    actions: Sequence[tuple[str, str]],
    *,
    group_metavar: str,
    handler: Handler,
    description: Callable[[str], str] | None = None,
) -> list[argparse.ArgumentParser]:
    """Add to ``parser`` the ``actions`` (name, summary), each taking a group first; return their parsers."""
    children = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    parsers = []
    for action, action_summary in actions:
        extra = {} if description is None else {"description": description(action_summary)}
        sub = command(children, action, action_summary, **extra)
        sub.add_argument("group_id", metavar=group_metavar)
        sub.set_defaults(handler=handler)
        parsers.append(sub)
    return parsers


def participants_description(note: str = "") -> Callable[[str], str]:
    """Return the description maker of the participants actions, ``note`` appended."""

    def describe(summary: str) -> str:
        return (
            f"{summary[0].upper()}{summary[1:]}. Up to {PARTICIPANTS_PER_CALL} users make one call; "
            f"more run as a bulk job in batches with a progress display and a report.{note}"
        )

    return describe


def users_arguments(sub: argparse.ArgumentParser, users_help: str, *, required: bool = True) -> None:
    """Add the USER arguments and ``--users-file``; at least one user is needed when ``required``."""
    sub.add_argument("users", metavar="USER", nargs="*", help=users_help)
    sub.add_argument("--users-file", metavar="PATH", help="read more users from PATH, one a line ('-': stdin)")
    sub.set_defaults(users_required=required)


def participants_arguments(subs: Sequence[argparse.ArgumentParser], users_help: str) -> None:
    """Add the users and the bulk-job options to each participants action."""
    for sub in subs:
        users_arguments(sub, users_help)
        bulk_options(
            sub, concurrency_help=f"batches sent at the same time in a bulk job (default: {DEFAULT_CONCURRENCY})"
        )


def _read_users_file(path: str) -> list[str]:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise usage(f"cannot read the users file {path}: {reason}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def users(ctx: Context) -> list[str]:
    """Return the users of the command line and of ``--users-file``; one is required unless resuming."""
    args = ctx.args
    found = list(args.users)
    if args.users_file is not None:
        found += _read_users_file(args.users_file)
    if not found and getattr(args, "users_required", True) and ctx.option("resume") is None:
        raise usage(f"{args.command} {args.action} needs at least one USER (or --users-file PATH)")
    # '00' international prefixes become '+' here, for both backends; a number without its country code is refused.
    return [international(user) for user in found]


def is_bulk(args: argparse.Namespace, items: list[str]) -> bool:
    """Tell whether a participants command runs as a bulk job rather than one call."""
    return len(items) > PARTICIPANTS_PER_CALL or args.resume is not None or args.report is not None
