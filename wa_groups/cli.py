"""The ``wa-groups`` command: every Groups API call, bulk join-request jobs, a webhook receiver and a demo.

Credentials come from ``WA_ACCESS_TOKEN`` (or ``--token-file``), ``WA_PHONE_NUMBER_ID``, ``WA_BASE_URL`` and
``WA_API_VERSION``. Output is a table for people or JSON with ``--json``; progress and errors go to stderr.
The access token is never printed.

``--backend wuts`` switches to the WUTS gateway (``WUTS_TOKEN``, ``WUTS_BASE_URL``): the parser is then built
with the WUTS commands (the shared ones, ``participants promote|demote``, ``communities``) and their help.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, TextIO

from ._cli_output import (
    ProgressDisplay,
    format_count,
    format_duration,
    format_table,
    jsonable,
    key_value_table,
)
from ._graph.checks import normalise_user
from ._graph.endpoints import PARTICIPANTS_PER_CALL
from ._version import __version__
from .bulk import BulkFailure, BulkReport, BulkResult
from .bulk.graph import run_all_join_requests, run_join_requests, run_participants
from .client import GroupsClient
from .errors import APIError, ClientValidationError, WAGroupsError
from .models import GroupOperation, JoinApprovalMode
from .wuts import Group, GroupParticipant, ParticipantAction, ParticipantsResult, WutsClient, normalise_participant
from .wuts._protocol import PARTICIPANT_OPERATIONS, check_participants, participant_outcomes

__all__ = ["main"]

PROG = "wa-groups"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DEFAULT_REPORT = "wa-groups-report.json"
DEFAULT_DEMO_REPORT = "wa-groups-demo-report.json"
PAGE_SIZE = 1024
BACKENDS = ("graph", "wuts")

_EXIT_STATUS_HELP = """\
exit status:
  0    everything was done
  1    some items failed, or the API refused the call
  2    usage or configuration error (bad arguments, no access token, invalid values)
  130  interrupted (Ctrl-C); bulk jobs write their report first, continue them with --resume FILE

"""
_GRAPH_ENVIRONMENT_HELP = """\
environment:
  WA_ACCESS_TOKEN     access token (or --token-file PATH); never printed
  WA_PHONE_NUMBER_ID  business phone number id (or --phone-number-id)
  WA_BASE_URL         Graph root URL (or --base-url)
  WA_API_VERSION      Graph API version (or --api-version)
  WA_APP_SECRET, WA_VERIFY_TOKEN   for 'webhooks serve'

'wa-groups --backend wuts --help' lists the commands of the WUTS gateway backend.
"""
_WUTS_ENVIRONMENT_HELP = """\
environment:
  WUTS_TOKEN          WUTS user token (or --token-file PATH); never printed
  WUTS_BASE_URL       WUTS root URL (or --base-url)

Participants are phone numbers with their country code in any usual spelling, user JIDs or LIDs;
groups and communities are JIDs (<digits>@g.us, or just the digits).
"""


class _CommandError(Exception):
    """A failure reported as one line on stderr with its exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def _usage(message: str) -> _CommandError:
    return _CommandError(message, EXIT_USAGE)


class _Context:
    """What a command needs: parsed arguments, output streams and the secrets to keep out of messages."""

    def __init__(self, args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> None:
        self.args = args
        self.stdout = stdout
        self.stderr = stderr
        self.secrets: list[str] = []
        #: True once a command has said on stderr that it was interrupted.
        self.interrupt_noted = False

    def option(self, name: str, default: Any = None) -> Any:
        return getattr(self.args, name, default)

    @property
    def json(self) -> bool:
        return bool(self.option("json", False))

    def out(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def out_json(self, data: Any) -> None:
        self.out(json.dumps(data, indent=2, ensure_ascii=False))

    def note(self, text: str) -> None:
        self.stderr.write(self.redact(text) + "\n")
        self.stderr.flush()

    def error(self, message: object) -> None:
        text = " ".join(str(message).split()) or "unknown error"
        self.note(f"{PROG}: error: {text}")

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    @property
    def live_progress(self) -> bool:
        try:
            return bool(self.stderr.isatty())
        except (AttributeError, ValueError):
            return False


# --------------------------------------------------------------------------------------------- arguments


def _int_in(low: int, high: int | None, what: str) -> Callable[[str], int]:
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


_positive_int = _int_in(1, None, "a whole number")
_count = _int_in(0, None, "a whole number")
_port = _int_in(0, 65535, "a port number")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _global_options(backend: str) -> argparse.ArgumentParser:
    """Return the options accepted before or after any command (their defaults are filled in later)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("global options")
    suppress = argparse.SUPPRESS
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default=suppress,
        help="the API to talk to: graph (Meta's Cloud API, the default) or wuts (the WUTS gateway)",
    )
    group.add_argument("--json", action="store_true", default=suppress, help="print JSON on stdout for scripts")
    if backend == "wuts":
        group.add_argument(
            "--token-file", metavar="PATH", default=suppress, help="read the WUTS token from PATH ($WUTS_TOKEN)"
        )
        group.add_argument(
            "--base-url",
            metavar="URL",
            default=suppress,
            help="WUTS root URL ($WUTS_BASE_URL, https://api.wuts.com.br)",
        )
    else:
        group.add_argument(
            "--token-file", metavar="PATH", default=suppress, help="read the access token from PATH ($WA_ACCESS_TOKEN)"
        )
        group.add_argument(
            "--phone-number-id", metavar="ID", default=suppress, help="business phone number id ($WA_PHONE_NUMBER_ID)"
        )
        group.add_argument(
            "--base-url",
            metavar="URL",
            default=suppress,
            help="Graph root URL ($WA_BASE_URL, https://graph.facebook.com)",
        )
        group.add_argument(
            "--api-version", metavar="VERSION", default=suppress, help="Graph API version ($WA_API_VERSION)"
        )
    group.add_argument(
        "--timeout", metavar="SECONDS", type=_seconds, default=suppress, help="seconds per HTTP exchange (30)"
    )
    group.add_argument("-v", "--verbose", action="store_true", default=suppress, help="log retries on stderr")
    return parent


def _bulk_options(parser: argparse.ArgumentParser, *, concurrency_help: str) -> None:
    parser.add_argument("--concurrency", type=_positive_int, metavar="N", help=concurrency_help)
    parser.add_argument(
        "--report",
        metavar="FILE",
        help=f"write the JSON report here, also on Ctrl-C (default: the --resume FILE, else {DEFAULT_REPORT})",
    )
    parser.add_argument("--resume", metavar="FILE", help="continue the job recorded in this report")


#: Signature of the helper that adds a sub-command with the global options.
_CommandAdder = Callable[..., argparse.ArgumentParser]


def _backend_of(argv: Sequence[str]) -> str:
    """Return the backend named by ``--backend`` (or an unambiguous prefix of it) anywhere in ``argv``.

    The parser is built for that backend, so its help and its commands are the backend's own. An unknown name
    gives ``graph`` here; the parser then refuses it.
    """
    backend = "graph"
    for index, item in enumerate(argv):
        if item == "--":
            break
        name, equals, value = item.partition("=")
        if len(name) > len("--ba") and "--backend".startswith(name):
            if not equals:
                value = argv[index + 1] if index + 1 < len(argv) else ""
            backend = value if value in BACKENDS else "graph"
    return backend


def _build_parser(backend: str = "graph") -> argparse.ArgumentParser:
    common = _global_options(backend)
    wuts = backend == "wuts"
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Manage WhatsApp groups through the WUTS gateway (--backend wuts)."
        if wuts
        else "Manage WhatsApp groups through the WhatsApp Business Cloud API Groups API.",
        epilog=_EXIT_STATUS_HELP + (_WUTS_ENVIRONMENT_HELP if wuts else _GRAPH_ENVIRONMENT_HELP),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, **kwargs: Any
    ) -> argparse.ArgumentParser:
        return parent.add_parser(
            name,
            help=summary,
            description=kwargs.pop("description", summary),
            parents=[common],
            **kwargs,
        )

    if wuts:
        _wuts_commands(commands, command)
    else:
        _graph_commands(commands, command)
    return parser


#: Commands of one backend only, by the backend that lacks them: their name -> the backend that has them.
_ELSEWHERE: dict[str, dict[str, str]] = {
    "graph": {"communities": "wuts"},
    "wuts": {"join-requests": "graph", "webhooks": "graph", "demo": "graph"},
}
#: Global options that take a value (to find the command word).
_VALUED_OPTIONS = ("--backend", "--token-file", "--base-url", "--phone-number-id", "--api-version", "--timeout")


def _command_word(argv: Sequence[str]) -> str | None:
    """Return the first word of ``argv`` that is not an option or an option's value."""
    skip = False
    for item in argv:
        if skip:
            skip = False
        elif item.startswith("-"):
            skip = "=" not in item and any(len(item) > 3 and name.startswith(item) for name in _VALUED_OPTIONS)
        else:
            return item
    return None


#: The invite-link and participants actions both backends have: (name, summary).
_INVITE_ACTIONS = (
    ("get", "print the group's invite link"),
    ("reset", "replace the invite link (earlier links stop working) and print the new one"),
)
_PARTICIPANT_ACTIONS = (("add", "add people to a group"), ("remove", "remove participants from a group"))
_WUTS_PARTICIPANT_ACTIONS = (("promote", "make participants admins"), ("demote", "take admin rights from participants"))
_USERS_HELP = {
    "graph": "phone numbers (any usual spelling) or WhatsApp ids",
    "wuts": "phone numbers (any usual spelling), user JIDs or LIDs",
}


def _group_actions(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    command: _CommandAdder,
    name: str,
    summary: str,
    actions: Sequence[tuple[str, str]],
    *,
    group_metavar: str,
    handler: Callable[[_Context], Awaitable[int]],
    description: Callable[[str], str] | None = None,
) -> list[argparse.ArgumentParser]:
    """Add command ``name`` whose actions each take a group (the first argument); return their parsers."""
    parent = commands.add_parser(name, help=summary)
    children = parent.add_subparsers(dest="action", metavar="ACTION", required=True)
    parsers = []
    for action, action_summary in actions:
        extra = {} if description is None else {"description": description(action_summary)}
        sub = command(children, action, action_summary, **extra)
        sub.add_argument("group_id", metavar=group_metavar)
        sub.set_defaults(handler=handler)
        parsers.append(sub)
    return parsers


def _participants_description(note: str) -> Callable[[str], str]:
    def describe(summary: str) -> str:
        return (
            f"{summary[0].upper()}{summary[1:]}. Up to {PARTICIPANTS_PER_CALL} users make one call; "
            f"more run as a bulk job in batches with a progress display and a report.{note}"
        )

    return describe


def _users_arguments(sub: argparse.ArgumentParser, backend: str, *, required: bool = True) -> None:
    sub.add_argument("users", metavar="USER", nargs="*", help=_USERS_HELP[backend])
    sub.add_argument("--users-file", metavar="PATH", help="read more users from PATH, one a line ('-': stdin)")
    sub.set_defaults(users_required=required)


def _shared_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], command: _CommandAdder, backend: str
) -> None:
    """Add ``invite-link`` and ``participants``, whose actions both backends have (WUTS adds some, Graph one)."""
    wuts = backend == "wuts"
    metavar = "GROUP_JID" if wuts else "GROUP_ID"
    _group_actions(
        commands,
        command,
        "invite-link",
        "get or reset a group's invite link" if wuts else "get, reset or delete a group's invite link",
        _INVITE_ACTIONS if wuts else (*_INVITE_ACTIONS, ("delete", "delete the invite link")),
        group_metavar=metavar,
        handler=_cmd_wuts_invite_link if wuts else _cmd_invite_link,
    )
    note = " A participant WUTS does not report as handled counts as failed." if wuts else ""
    for sub in _group_actions(
        commands,
        command,
        "participants",
        "add, remove, promote or demote participants" if wuts else "add or remove participants",
        (*_PARTICIPANT_ACTIONS, *(_WUTS_PARTICIPANT_ACTIONS if wuts else ())),
        group_metavar=metavar,
        handler=_cmd_wuts_participants if wuts else _cmd_participants,
        description=_participants_description(note),
    ):
        _users_arguments(sub, backend)
        _bulk_options(sub, concurrency_help="batches sent at the same time in a bulk job (default: 8)")


def _graph_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], command: _CommandAdder) -> None:
    # groups
    groups = commands.add_parser("groups", help="list, show, create, update and delete groups")
    groups_commands = groups.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(groups_commands, "list", "list the business number's active groups")
    sub.add_argument("--limit", type=_positive_int, metavar="N", help="stop after N groups")
    sub.add_argument("--page-size", type=_positive_int, metavar="N", help="groups per request (1..1024)")
    sub.add_argument("--after", metavar="CURSOR", help="resume a listing after this cursor")
    sub.set_defaults(handler=_cmd_groups_list)
    sub = command(groups_commands, "show", "show a group's metadata and participants")
    sub.add_argument("group_id", metavar="GROUP_ID")
    sub.add_argument("--fields", metavar="F,F", help="only these fields (comma separated)")
    sub.set_defaults(handler=_cmd_groups_show)
    sub = command(
        groups_commands,
        "create",
        "create a group",
        description="Create a group. Graph answers with a request id at once; the new group's id and invite link "
        "arrive in a webhook (see 'wa-groups webhooks serve').",
    )
    sub.add_argument("subject", metavar="SUBJECT")
    sub.add_argument("--description", metavar="TEXT")
    sub.add_argument("--join-approval-mode", choices=[mode.value for mode in JoinApprovalMode])
    sub.set_defaults(handler=_cmd_groups_create)
    sub = command(groups_commands, "update", "change a group's subject and/or description")
    sub.add_argument("group_id", metavar="GROUP_ID")
    sub.add_argument("--subject", metavar="TEXT")
    sub.add_argument("--description", metavar="TEXT")
    sub.set_defaults(handler=_cmd_groups_update)
    sub = command(groups_commands, "delete", "delete a group and remove every participant")
    sub.add_argument("group_id", metavar="GROUP_ID")
    sub.set_defaults(handler=_cmd_groups_delete)

    _shared_commands(commands, command, "graph")

    # join-requests
    join = commands.add_parser("join-requests", help="list, approve or reject join requests")
    join_commands = join.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(join_commands, "list", "list a group's open join requests")
    sub.add_argument("group_id", metavar="GROUP_ID")
    sub.add_argument("--limit", type=_positive_int, metavar="N", help="stop after N requests")
    sub.set_defaults(handler=_cmd_join_requests_list)
    for name in ("approve", "reject"):
        sub = command(
            join_commands,
            name,
            f"{name} join requests",
            description=f"{name.capitalize()} join requests: the ids given, every open request of a group (--all) "
            "or of every active group (--all-groups). Requests go out in batches of 8; the JSON report lists "
            "every item and is written on Ctrl-C too, so --resume FILE continues the job.",
        )
        sub.add_argument("group_id", metavar="GROUP_ID", nargs="?")
        sub.add_argument("ids", metavar="JOIN_REQUEST_ID", nargs="*")
        which = sub.add_mutually_exclusive_group()
        which.add_argument("--all", action="store_true", help="every open join request of GROUP_ID (streamed)")
        which.add_argument("--all-groups", action="store_true", help="every open join request of every active group")
        _bulk_options(sub, concurrency_help="requests at the same time (default: 8, 16 with --all-groups)")
        sub.set_defaults(handler=_cmd_join_requests_answer)

    # webhooks
    webhooks = commands.add_parser("webhooks", help="receive webhooks")
    webhook_commands = webhooks.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(
        webhook_commands,
        "serve",
        "receive webhooks and print each event as a JSON line",
        description="Receive webhooks and print each verified event as one JSON line on stdout, until Ctrl-C. "
        "Needs WA_APP_SECRET (the Meta app secret) and WA_VERIFY_TOKEN in the environment.",
    )
    sub.add_argument("--port", type=_port, required=True, metavar="P", help="port to listen on (0: any free port)")
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    sub.set_defaults(handler=_cmd_webhooks_serve)

    # demo
    sub = command(
        commands,
        "demo",
        "approve 10,000 join requests across 1,000 groups on an embedded fake Graph API",
        description=(
            "Run the main bulk job against an embedded fake Graph API, with no credentials: seed groups (some "
            "nearly full, a few suspended; a group holds at most 8 participants) and more join requests than they "
            "have room for, stream the groups, approve every open request with a progress display, then print a "
            "summary and write the JSON report. Some requests fail on purpose (#131204 Participant limit reached, "
            "#131207 Group suspended): the demo exits 0 when the job ran to its end although items failed, 1 if "
            "it stopped early, 130 on Ctrl-C."
        ),
    )
    sub.add_argument("--groups", type=_positive_int, default=1000, metavar="N", help="groups to seed (default: 1000)")
    sub.add_argument(
        "--requests", type=_count, default=10_000, metavar="N", help="join requests to seed (default: 10000)"
    )
    sub.add_argument(
        "--latency", type=_seconds, default=0.002, metavar="SECONDS", help="simulated server latency (default: 0.002)"
    )
    sub.add_argument("--concurrency", type=_positive_int, default=16, metavar="N", help="requests at once (16)")
    sub.add_argument("--seed", type=int, default=0, help="random seed of the generated data (default: 0)")
    sub.add_argument("--report", metavar="FILE", default=DEFAULT_DEMO_REPORT, help=f"default: {DEFAULT_DEMO_REPORT}")
    sub.set_defaults(handler=_cmd_demo)


def _wuts_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], command: _CommandAdder) -> None:
    """Add the commands of ``--backend wuts``: the operations both backends share, promote/demote, communities."""
    # groups
    groups = commands.add_parser("groups", help="list, show, create, update and leave groups")
    groups_commands = groups.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(groups_commands, "list", "list the groups the device belongs to")
    sub.add_argument("--limit", type=_positive_int, metavar="N", help="show at most N groups")
    sub.set_defaults(handler=_cmd_wuts_groups_list)
    sub = command(groups_commands, "show", "show a group's info and participants")
    sub.add_argument("group_id", metavar="GROUP_JID")
    sub.set_defaults(handler=_cmd_wuts_groups_show)
    sub = command(groups_commands, "create", "create a group with its first participants")
    sub.add_argument("name", metavar="NAME")
    _users_arguments(sub, "wuts")
    sub.add_argument("--announcement", action="store_true", default=None, help="only admins send messages")
    sub.add_argument("--locked", action="store_true", default=None, help="only admins edit the group's info")
    sub.add_argument("--join-approval", action="store_true", default=None, help="new members need approval")
    sub.add_argument("--community", action="store_true", default=None, help="create a community instead")
    sub.add_argument("--parent", metavar="COMMUNITY_JID", help="attach the new group to this community")
    sub.set_defaults(handler=_cmd_wuts_groups_create)
    sub = command(groups_commands, "update", "change a group's name, topic or settings")
    sub.add_argument("group_id", metavar="GROUP_JID")
    sub.add_argument("--name", metavar="TEXT")
    sub.add_argument("--topic", metavar="TEXT", help="the group's topic (its description)")
    for flag, what in (
        ("announcement", "only admins send messages"),
        ("locked", "only admins edit the group's info"),
        ("join-approval", "new members need approval"),
    ):
        sub.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None, help=what)
    sub.add_argument("--member-add-mode", metavar="MODE", help="who adds members: admin or all_members")
    sub.set_defaults(handler=_cmd_wuts_groups_update)
    sub = command(groups_commands, "leave", "make the device leave a group")
    sub.add_argument("group_id", metavar="GROUP_JID")
    sub.set_defaults(handler=_cmd_wuts_groups_leave)

    _shared_commands(commands, command, "wuts")

    # communities
    communities = commands.add_parser("communities", help="create communities, manage their members and groups")
    community_commands = communities.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = command(community_commands, "create", "create a community (WUTS adds its announcement group)")
    sub.add_argument("name", metavar="NAME")
    _users_arguments(sub, "wuts", required=False)
    sub.set_defaults(handler=_cmd_wuts_communities_create)
    for name, summary in (("add", "add members to a community"), ("remove", "remove members from a community")):
        sub = command(community_commands, name, summary)
        sub.add_argument("group_id", metavar="COMMUNITY_JID")
        _users_arguments(sub, "wuts")
        sub.set_defaults(handler=_cmd_wuts_communities_members)
    for name, summary in (
        ("link", "attach an existing group to a community"),
        ("unlink", "detach a group from a community"),
    ):
        sub = command(community_commands, name, summary)
        sub.add_argument("community", metavar="COMMUNITY_JID")
        sub.add_argument("group_id", metavar="GROUP_JID")
        sub.set_defaults(handler=_cmd_wuts_communities_link)


# ------------------------------------------------------------------------------------------- credentials


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _load_token(ctx: _Context, variable: str = "WA_ACCESS_TOKEN", what: str = "access token") -> str:
    path = ctx.option("token_file")
    if path is not None:
        try:
            with open(path, encoding="utf-8") as handle:
                token = handle.read().strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise _usage(f"cannot read the token file {path}: {reason}") from None
        if not token:
            raise _usage(f"the token file {path} is empty")
    else:
        token = os.environ.get(variable, "").strip()
        if not token:
            raise _usage(f"no {what}: set {variable} or pass --token-file PATH")
    ctx.secrets.append(token)
    return token


def _client(ctx: _Context, *, needs_phone: bool = False) -> GroupsClient:
    token = _load_token(ctx)
    kwargs: dict[str, Any] = {}
    phone = ctx.option("phone_number_id") or _env("WA_PHONE_NUMBER_ID")
    if phone:
        kwargs["phone_number_id"] = phone
    elif needs_phone:
        raise _usage("no business phone number id: set WA_PHONE_NUMBER_ID or pass --phone-number-id")
    base_url = ctx.option("base_url") or _env("WA_BASE_URL")
    if base_url:
        kwargs["base_url"] = base_url
    api_version = ctx.option("api_version") or _env("WA_API_VERSION")
    if api_version:
        kwargs["api_version"] = api_version
    return GroupsClient(token, **kwargs, **_timeout(ctx))


def _timeout(ctx: _Context) -> dict[str, Any]:
    timeout = ctx.option("timeout")
    if timeout is None:
        return {}
    if timeout <= 0:
        raise _usage("--timeout must be more than 0 seconds")
    return {"timeout": timeout}


def _wuts_client(ctx: _Context) -> WutsClient:
    token = _load_token(ctx, "WUTS_TOKEN", "WUTS token")
    kwargs = _timeout(ctx)
    base_url = ctx.option("base_url") or _env("WUTS_BASE_URL")
    if base_url:
        kwargs["base_url"] = base_url
    return WutsClient(token, **kwargs)


# ---------------------------------------------------------------------------------------------- commands


def _operation_json(operation: GroupOperation) -> dict[str, Any]:
    return {"kind": operation.kind, "request_id": operation.request_id, "group_id": operation.group_id}


def _print_operation(ctx: _Context, operation: GroupOperation, what: str) -> None:
    if ctx.json:
        ctx.out_json(_operation_json(operation))
        return
    request = f" (request_id {operation.request_id})" if operation.request_id else ""
    ctx.out(f"{what}{request}; the outcome arrives in a webhook.")


async def _cmd_groups_list(ctx: _Context) -> int:
    args = ctx.args
    page_size = args.page_size or min(args.limit or PAGE_SIZE, PAGE_SIZE)
    async with _client(ctx, needs_phone=True) as client:
        groups = client.iter_groups(page_size=page_size, after=args.after, max_items=args.limit)
        if ctx.json:
            # Streamed as it arrives; nothing is written before the first page came back, so a refused call
            # leaves stdout empty.
            count = 0
            async for group in groups:
                ctx.stdout.write(("," if count else "[") + "\n  " + json.dumps(jsonable(group), ensure_ascii=False))
                count += 1
            ctx.stdout.write("\n]\n" if count else "[]\n")
            ctx.stdout.flush()
            return EXIT_OK
        rows = [(group.id, group.subject, group.created_at) async for group in groups]
    if not rows:
        ctx.out("No active groups.")
        return EXIT_OK
    ctx.out(format_table(("GROUP ID", "SUBJECT", "CREATED (UTC)"), rows, cut={1}))
    ctx.out(f"{format_count(len(rows))} group{'s' if len(rows) != 1 else ''}")
    return EXIT_OK


async def _cmd_groups_show(ctx: _Context) -> int:
    args = ctx.args
    fields = None if args.fields is None else [name.strip() for name in args.fields.split(",") if name.strip()]
    async with _client(ctx) as client:
        info = await client.get_group(args.group_id, fields=fields)
    if ctx.json:
        ctx.out_json(jsonable(info))
        return EXIT_OK
    pairs: list[tuple[str, object]] = [("id", info.id)]
    for label, value in (
        ("subject", info.subject),
        ("description", info.description),
        ("join approval mode", info.join_approval_mode),
        ("suspended", info.suspended),
        ("created (UTC)", info.creation_timestamp),
        ("participants", info.total_participant_count),
    ):
        if value is not None:
            pairs.append((label, value))
    ctx.out(key_value_table(pairs))
    if info.participants:
        ctx.out()
        rows = [(p.wa_id, p.username, p.user_id) for p in info.participants]
        ctx.out(format_table(("WA ID", "USERNAME", "USER ID"), rows))
    return EXIT_OK


async def _cmd_groups_create(ctx: _Context) -> int:
    args = ctx.args
    async with _client(ctx, needs_phone=True) as client:
        operation = await client.create_group(
            args.subject, description=args.description, join_approval_mode=args.join_approval_mode
        )
    _print_operation(ctx, operation, "Group creation accepted")
    if not ctx.json:
        ctx.note("The new group's id and invite link come in the group_create webhook ('wa-groups webhooks serve').")
    return EXIT_OK


async def _cmd_groups_update(ctx: _Context) -> int:
    args = ctx.args
    if args.subject is None and args.description is None:
        raise _usage("groups update needs --subject, --description or both")
    async with _client(ctx) as client:
        operation = await client.update_group(args.group_id, subject=args.subject, description=args.description)
    _print_operation(ctx, operation, f"Update of group {args.group_id} accepted")
    return EXIT_OK


async def _cmd_groups_delete(ctx: _Context) -> int:
    async with _client(ctx) as client:
        operation = await client.delete_group(ctx.args.group_id)
    _print_operation(ctx, operation, f"Deletion of group {ctx.args.group_id} accepted")
    return EXIT_OK


async def _cmd_invite_link(ctx: _Context) -> int:
    args = ctx.args
    async with _client(ctx) as client:
        if args.action == "delete":
            await client.delete_invite_link(args.group_id)
            link: str | None = None
        elif args.action == "reset":
            link = await client.reset_invite_link(args.group_id)
        else:
            link = await client.get_invite_link(args.group_id)
    if ctx.json:
        ctx.out_json({"group_id": args.group_id, "invite_link": link})
    elif link is None:
        ctx.out(f"Invite link of group {args.group_id} deleted.")
    else:
        ctx.out(link)
    return EXIT_OK


def _read_users_file(path: str) -> list[str]:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise _usage(f"cannot read the users file {path}: {reason}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _users(ctx: _Context) -> list[str]:
    """Return the users of the command line and of ``--users-file``; one is required unless resuming."""
    args = ctx.args
    users = list(args.users)
    if args.users_file is not None:
        users += _read_users_file(args.users_file)
    if not users and getattr(args, "users_required", True) and ctx.option("resume") is None:
        raise _usage(f"{args.command} {args.action} needs at least one USER (or --users-file PATH)")
    return users


def _is_bulk(args: argparse.Namespace, users: list[str]) -> bool:
    return len(users) > PARTICIPANTS_PER_CALL or args.resume is not None or args.report is not None


#: Run a participants bulk job: (items, resume, result, progress) -> awaitable.
_ParticipantsJob = Callable[[list[str], BulkResult | None, BulkResult, ProgressDisplay], Awaitable[object]]


async def _participants_bulk(ctx: _Context, operation: str, normalised: list[str], run: _ParticipantsJob) -> int:
    """Run a participants bulk job of either backend with a progress display and a report."""
    args = ctx.args
    resume = _load_result(args.resume, operation, normalised) if args.resume else None
    result = BulkResult()
    expected = normalised + (resume.retry_items() if resume is not None else [])
    return await _bulk(
        ctx,
        label=operation,
        total=len(set(normalised)) if resume is None else len(resume.retry_items()),
        target=result,
        path=_report_path(args),
        job=lambda progress: run(normalised, resume, result, progress),
        settle=lambda: _account_missing(result, expected),
    )


async def _cmd_participants(ctx: _Context) -> int:
    args = ctx.args
    action: Literal["add", "remove"] = args.action
    users = _users(ctx)
    async with _client(ctx) as client:
        if not _is_bulk(args, users):
            send = client.add_participants if action == "add" else client.remove_participants
            operation = await send(args.group_id, users)
            what = f"{len(users)} participant(s) {'to' if action == 'add' else 'from'} group {args.group_id}"
            _print_operation(ctx, operation, f"{'Adding' if action == 'add' else 'Removing'} {what} accepted")
            return EXIT_OK

        def run(
            items: list[str], resume: BulkResult | None, result: BulkResult, progress: ProgressDisplay
        ) -> Awaitable[object]:
            return run_participants(
                client,
                action,
                args.group_id,
                items,
                concurrency=args.concurrency or 8,
                batch_size=PARTICIPANTS_PER_CALL,
                on_progress=progress,
                resume=resume,
                result=result,
            )

        normalised = [normalise_user(user, "users") for user in users]
        return await _participants_bulk(ctx, f"{action}_participants", normalised, run)


async def _cmd_join_requests_list(ctx: _Context) -> int:
    args = ctx.args
    page_size = min(args.limit or PAGE_SIZE, PAGE_SIZE)
    async with _client(ctx) as client:
        requests = client.iter_join_requests(args.group_id, page_size=page_size, max_items=args.limit)
        if ctx.json:
            items = [jsonable(request) async for request in requests]
            ctx.out_json(items)
            return EXIT_OK
        rows = [(r.join_request_id, r.wa_id, r.creation_timestamp) async for r in requests]
    if not rows:
        ctx.out(f"No open join requests in group {args.group_id}.")
        return EXIT_OK
    ctx.out(format_table(("JOIN REQUEST ID", "WA ID", "CREATED (UTC)"), rows))
    ctx.out(f"{format_count(len(rows))} open join request{'s' if len(rows) != 1 else ''}")
    return EXIT_OK


async def _cmd_join_requests_answer(ctx: _Context) -> int:
    args = ctx.args
    action: Literal["approve", "reject"] = args.action
    operation = f"{action}_join_requests"
    concurrency = args.concurrency or (16 if args.all_groups else 8)
    path = _report_path(args)
    if args.all_groups:
        if args.group_id is not None or args.ids:
            raise _usage("--all-groups takes no GROUP_ID or join request ids")
        previous = _load_report(args.resume, operation) if args.resume else None
        report = BulkReport()
        async with _client(ctx, needs_phone=True) as client:

            def all_groups_job(progress: ProgressDisplay) -> Awaitable[object]:
                return run_all_join_requests(
                    client,
                    group_ids=None,
                    reject=action == "reject",
                    concurrency=concurrency,
                    batch_size=8,
                    on_progress=progress,
                    resume=previous,
                    phone_number_id=None,
                    result=report,
                )

            return await _bulk(
                ctx,
                label=operation,
                total=None,
                target=report,
                path=path,
                job=all_groups_job,
                settle=lambda: _settle_report(report),
                on_interrupt=lambda: _merge_unreached(report, previous),
            )
    if args.group_id is None:
        raise _usage(f"join-requests {action} needs GROUP_ID (or --all-groups)")
    if args.all and args.ids:
        raise _usage("give join request ids or --all, not both")
    if not args.all and not args.ids:
        if args.resume:
            raise _usage("with --resume, repeat the original selection: the join request ids or --all")
        raise _usage(f"join-requests {action} needs JOIN_REQUEST_IDs, --all or --all-groups")
    ids: list[str] | None = None if args.all else list(dict.fromkeys(args.ids))
    resume = _load_result(args.resume, operation, ids or ()) if args.resume else None
    result = BulkResult()
    expected = list(ids or ()) + (resume.retry_items() if resume is not None else [])
    if resume is not None:
        total: int | None = None if ids is None and not resume.exhausted else len(resume.retry_items())
    else:
        total = None if ids is None else len(ids)
    async with _client(ctx) as client:

        def group_job(progress: ProgressDisplay) -> Awaitable[object]:
            return run_join_requests(
                client,
                action,
                args.group_id,
                ids,
                concurrency=concurrency,
                batch_size=8,
                on_progress=progress,
                resume=resume,
                result=result,
            )

        return await _bulk(
            ctx,
            label=operation,
            total=total,
            target=result,
            path=path,
            job=group_job,
            settle=lambda: _account_missing(result, expected),
        )


async def _cmd_webhooks_serve(ctx: _Context) -> int:
    args = ctx.args
    app_secret = _env("WA_APP_SECRET")
    verify_token = _env("WA_VERIFY_TOKEN")
    missing = [name for name, value in (("WA_APP_SECRET", app_secret), ("WA_VERIFY_TOKEN", verify_token)) if not value]
    if missing or app_secret is None or verify_token is None:
        raise _usage(f"webhooks serve needs {' and '.join(missing)} in the environment")
    ctx.secrets += [app_secret, verify_token]
    from .webhooks._serve import serve

    def ready(port: int) -> None:
        ctx.note(f"receiving webhooks on http://{args.host}:{port}/ (Ctrl-C to stop)")

    try:
        await serve(
            host=args.host,
            port=args.port,
            app_secret=app_secret,
            verify_token=verify_token,
            out=ctx.stdout,
            on_ready=ready,
        )
    except OSError as error:
        raise _CommandError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    return EXIT_OK


# -------------------------------------------------------------------------------------------- WUTS backend


def _plural(count: int, noun: str) -> str:
    return f"{format_count(count)} {noun}{'s' if count != 1 else ''}"


def _role(participant: GroupParticipant) -> str:
    if participant.is_super_admin:
        return "super admin"
    return "admin" if participant.is_admin else "member"


async def _cmd_wuts_groups_list(ctx: _Context) -> int:
    async with _wuts_client(ctx) as client:
        groups = await client.list_groups()
    groups = groups[: ctx.args.limit] if ctx.args.limit else groups
    if ctx.json:
        ctx.out_json(jsonable(groups))
    elif not groups:
        ctx.out("No groups.")
    else:
        rows = [(group.jid, group.name, group.members_count, group.created_at) for group in groups]
        ctx.out(format_table(("GROUP JID", "NAME", "MEMBERS", "CREATED (UTC)"), rows, cut={1}))
        ctx.out(_plural(len(groups), "group"))
    return EXIT_OK


def _print_wuts_group(ctx: _Context, group: Group) -> None:
    if ctx.json:
        ctx.out_json(jsonable(group))
        return
    pairs: list[tuple[str, object]] = [
        (label, value)
        for label, value in (
            ("jid", group.jid),
            ("name", group.name),
            ("topic", group.topic),
            ("owner", group.owner),
            ("created (UTC)", group.created_at),
            ("announcement", group.is_announce),
            ("locked", group.is_locked),
            ("join approval", group.join_approval),
            ("members", group.members_count),
        )
        if value is not None
    ]
    ctx.out(key_value_table(pairs))
    if group.participants:
        ctx.out()
        rows = [(p.jid, p.phone_number, _role(p)) for p in group.participants]
        ctx.out(format_table(("JID", "PHONE NUMBER", "ROLE"), rows))


async def _cmd_wuts_groups_show(ctx: _Context) -> int:
    async with _wuts_client(ctx) as client:
        _print_wuts_group(ctx, await client.get_group(ctx.args.group_id))
    return EXIT_OK


async def _cmd_wuts_groups_create(ctx: _Context) -> int:
    args = ctx.args
    users = _users(ctx)
    async with _wuts_client(ctx) as client:
        group = await client.create_group(
            args.name,
            users,
            announcement=args.announcement,
            locked=args.locked,
            join_approval=args.join_approval,
            community=args.community,
            parent_jid=args.parent,
        )
    if not ctx.json:
        ctx.out(f"Created {'community' if args.community else 'group'} {group.jid}.")
    _print_wuts_group(ctx, group)
    return EXIT_OK


async def _cmd_wuts_groups_update(ctx: _Context) -> int:
    args = ctx.args
    changes = {
        "name": args.name,
        "topic": args.topic,
        "announcement": args.announcement,
        "locked": args.locked,
        "join_approval": args.join_approval,
        "member_add_mode": args.member_add_mode,
    }
    if all(value is None for value in changes.values()):
        raise _usage(
            "groups update needs at least one of --name, --topic, --[no-]announcement, --[no-]locked, "
            "--[no-]join-approval or --member-add-mode"
        )
    async with _wuts_client(ctx) as client:
        group = await client.update_group(args.group_id, **changes)
    if not ctx.json:
        ctx.out(f"Updated group {group.jid}.")
    _print_wuts_group(ctx, group)
    return EXIT_OK


async def _cmd_wuts_groups_leave(ctx: _Context) -> int:
    async with _wuts_client(ctx) as client:
        await client.leave_group(ctx.args.group_id)
    if ctx.json:
        ctx.out_json({"group_jid": ctx.args.group_id, "left": True})
    else:
        ctx.out(f"The device left group {ctx.args.group_id}.")
    return EXIT_OK


async def _cmd_wuts_invite_link(ctx: _Context) -> int:
    args = ctx.args
    async with _wuts_client(ctx) as client:
        send = client.reset_invite_link if args.action == "reset" else client.get_invite_link
        link = await send(args.group_id)
    if ctx.json:
        ctx.out_json(jsonable(link))
    else:
        ctx.out(str(link))
    return EXIT_OK


def _print_outcomes(
    ctx: _Context, operation: str, action: ParticipantAction, sent: list[str], answer: ParticipantsResult
) -> int:
    """Print which participants one call handled; exit 1 when WUTS did not handle them all."""
    succeeded, failed = participant_outcomes(action, sent, answer)
    if ctx.json:
        ctx.out_json({"action": operation, "succeeded": succeeded, "failed": failed, "answer": jsonable(answer)})
    else:
        done = {ParticipantAction.ADD: "added", ParticipantAction.REMOVE: "removed"}.get(action, f"{action.value}d")
        rows = [(item, done if item in succeeded else f"failed: {failed[item]}") for item in sent]
        ctx.out(format_table(("PARTICIPANT", "RESULT"), rows))
        ctx.out(f"{operation}: {format_count(len(succeeded))} of {_plural(len(sent), 'participant')} {done}")
    return EXIT_OK if not failed else EXIT_FAILED


async def _cmd_wuts_participants(ctx: _Context) -> int:
    args = ctx.args
    action = ParticipantAction(args.action)
    operation = PARTICIPANT_OPERATIONS[action]
    users = _users(ctx)
    async with _wuts_client(ctx) as client:
        if not _is_bulk(args, users):
            single = {
                ParticipantAction.ADD: client.add_participants,
                ParticipantAction.REMOVE: client.remove_participants,
                ParticipantAction.PROMOTE: client.promote_participants,
                ParticipantAction.DEMOTE: client.demote_participants,
            }[action]
            sent = check_participants(users, "users")
            return _print_outcomes(ctx, operation, action, sent, await single(args.group_id, sent))
        bulk = {
            ParticipantAction.ADD: client.bulk_add_participants,
            ParticipantAction.REMOVE: client.bulk_remove_participants,
            ParticipantAction.PROMOTE: client.bulk_promote,
            ParticipantAction.DEMOTE: client.bulk_demote,
        }[action]

        def run(
            items: list[str], resume: BulkResult | None, result: BulkResult, progress: ProgressDisplay
        ) -> Awaitable[object]:
            return bulk(
                args.group_id,
                items,
                concurrency=args.concurrency or 8,
                on_progress=progress,
                resume=resume,
                result=result,
            )

        normalised = [normalise_participant(user, "users") for user in users]
        return await _participants_bulk(ctx, operation, normalised, run)


async def _cmd_wuts_communities_create(ctx: _Context) -> int:
    args = ctx.args
    async with _wuts_client(ctx) as client:
        community = await client.create_community(args.name, _users(ctx))
    if ctx.json:
        ctx.out_json({"jid": community.jid, "name": community.name, "community": jsonable(dict(community.raw))})
    else:
        ctx.out(f"Created community {community.jid or '(WUTS did not say its JID)'} ({community.name or args.name}).")
    return EXIT_OK


async def _cmd_wuts_communities_members(ctx: _Context) -> int:
    args = ctx.args
    action = ParticipantAction(args.action)
    sent = check_participants(_users(ctx), "users")
    async with _wuts_client(ctx) as client:
        if action is ParticipantAction.ADD:
            answer = await client.add_community_participants(args.group_id, sent)
        else:
            answer = await client.remove_community_participants(args.group_id, sent)
    return _print_outcomes(ctx, f"{action.value}_community_participants", action, sent, answer)


async def _cmd_wuts_communities_link(ctx: _Context) -> int:
    args = ctx.args
    link = args.action == "link"
    async with _wuts_client(ctx) as client:
        await (client.link_group if link else client.unlink_group)(args.community, args.group_id)
    if ctx.json:
        ctx.out_json({"community_jid": args.community, "group_jid": args.group_id, "linked": link})
    else:
        ctx.out(
            f"{'Linked' if link else 'Unlinked'} group {args.group_id} {'to' if link else 'from'} community "
            f"{args.community}."
        )
    return EXIT_OK


# ------------------------------------------------------------------------------------------------ bulk jobs


def _report_path(args: argparse.Namespace) -> str:
    return str(args.report or args.resume or DEFAULT_REPORT)


def _read_json_object(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as error:
        raise _usage(f"cannot read the report {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise _usage(f"{path} is not a wa-groups report: {error}") from None
    if not isinstance(data, dict):
        raise _usage(f"{path} is not a wa-groups report: expected a JSON object")
    return data


def _load_result(path: str, action: str, items: Iterable[str]) -> BulkResult:
    """Load a one-group report; items given again on the command line that it never mentions are added to do."""
    data = _read_json_object(path)
    if "groups" in data:
        raise _usage(f"{path} is the report of an --all-groups job: resume it with --all-groups")
    result = BulkResult.from_dict(data)
    if result.action and result.action != action:
        raise _usage(f"{path} is the report of a {result.action} job, not {action}")
    _account_missing(result, items)
    return result


def _load_report(path: str, action: str) -> BulkReport:
    data = _read_json_object(path)
    if "groups" not in data:
        raise _usage(f"{path} is the report of a one-group job: resume it with GROUP_ID")
    report = BulkReport.from_dict(data)
    if report.action != action:
        raise _usage(f"{path} is the report of a {report.action} job, not {action}")
    return report


def _account_missing(result: BulkResult, items: Iterable[str]) -> None:
    """Record as not attempted every item the result does not account for (so a resumed job does it).

    Also keep each item in one place only: an item recorded twice (as may happen when a job is cancelled while
    a batch waits to be sent) is listed once, and never as not attempted when it has an outcome.
    """
    done = set(result.succeeded) | {failure.item for failure in result.failed}
    result.not_attempted[:] = [item for item in dict.fromkeys(result.not_attempted) if item not in done]
    accounted = done | set(result.not_attempted)
    for item in dict.fromkeys(items):
        if item not in accounted:
            result.not_attempted.append(item)


def _settle_report(report: BulkReport) -> None:
    for result in report.groups.values():
        _account_missing(result, ())


def _merge_unreached(report: BulkReport, previous: BulkReport | None) -> None:
    """Keep, in an interrupted resumed report, the earlier state of groups this run did not reach or finish."""
    if previous is None:
        return
    for group_id, earlier in previous.groups.items():
        current = report.groups.get(group_id)
        if current is None:
            report.groups[group_id] = earlier
        else:
            _account_missing(current, earlier.retry_items())


def _failures(target: BulkResult | BulkReport) -> Iterator[BulkFailure]:
    if isinstance(target, BulkResult):
        yield from target.failed
        return
    for result in target.groups.values():
        yield from result.failed


def _failure_label(error: WAGroupsError) -> str:
    if isinstance(error, APIError) and error.code is not None:
        return f"#{error.code} {error.title or error.message or type(error).__name__}"
    return type(error).__name__


def _write_report(path: str, target: BulkResult | BulkReport) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(target.to_json())
        handle.write("\n")
    os.replace(temporary, path)


def _save_report(ctx: _Context, path: str, target: BulkResult | BulkReport) -> bool:
    try:
        _write_report(path, target)
    except OSError as error:
        ctx.error(f"cannot write the report {path}: {error.strerror or error}")
        return False
    return True


def _summary(target: BulkResult | BulkReport, elapsed: float, path: str | None) -> dict[str, Any]:
    by_error = collections.Counter(_failure_label(failure.error) for failure in _failures(target))
    counts = dict(target.counts)
    if isinstance(target, BulkResult):
        counts = {"groups": 1, **counts}
    done = counts["succeeded"] + counts["failed"]
    return {
        "action": target.action,
        "ok": target.ok,
        "counts": counts,
        "failed_by_error": dict(by_error.most_common()),
        "stopped_by": None if target.stopped_by is None else str(target.stopped_by),
        "elapsed_seconds": round(elapsed, 3),
        "items_per_second": round(done / elapsed, 1) if elapsed > 0 else None,
        "report": path,
    }


def _summary_pairs(summary: dict[str, Any], succeeded_label: str = "succeeded") -> list[tuple[str, object]]:
    counts = summary["counts"]
    pairs: list[tuple[str, object]] = [
        ("groups", counts["groups"]),
        (succeeded_label, counts["succeeded"]),
        ("failed", counts["failed"]),
    ]
    pairs += [(f"  {label}", count) for label, count in summary["failed_by_error"].items()]
    pairs += [
        ("not attempted", counts["not_attempted"]),
        ("elapsed", format_duration(summary["elapsed_seconds"])),
    ]
    if summary["items_per_second"] is not None:
        pairs.append(("items/s", f"{summary['items_per_second']:,.0f}"))
    if summary["report"]:
        pairs.append(("report", summary["report"]))
    return pairs


async def _bulk(
    ctx: _Context,
    *,
    label: str,
    total: int | None,
    target: BulkResult | BulkReport,
    path: str,
    job: Callable[[ProgressDisplay], Awaitable[object]],
    settle: Callable[[], None] | None = None,
    on_interrupt: Callable[[], None] | None = None,
) -> int:
    """Run a bulk job with a progress display; write its report at the end and on Ctrl-C."""
    progress = ProgressDisplay(ctx.stderr, label=label, total=total, live=ctx.live_progress)
    started = time.monotonic()
    try:
        await job(progress)
    except asyncio.CancelledError:
        progress.finish(interrupted=True)
        if settle is not None:
            settle()
        if on_interrupt is not None:
            on_interrupt()
        if _save_report(ctx, path, target):
            ctx.note(f"{PROG}: interrupted: partial report written to {path}; continue with --resume {path}")
            ctx.interrupt_noted = True
        raise
    except BaseException:
        progress.finish()
        raise
    progress.finish()
    if settle is not None:
        settle()
    elapsed = time.monotonic() - started
    saved = _save_report(ctx, path, target)
    summary = _summary(target, elapsed, path if saved else None)
    if ctx.json:
        ctx.out_json(summary)
    else:
        ctx.out(key_value_table([("action", target.action), *_summary_pairs(summary)]))
    if target.stopped_by is not None:
        ctx.error(f"the job stopped early: {target.stopped_by}")
    elif not target.ok and not ctx.json:
        ctx.note(f"{PROG}: some items were not done; see {path}" if saved else f"{PROG}: some items were not done")
    return EXIT_OK if target.ok and saved else EXIT_FAILED


# ------------------------------------------------------------------------------------------------------ demo


def _seed_demo(fake: Any, groups: int, requests: int, rng: random.Random) -> dict[str, int]:
    """Seed the fake with groups, some nearly full and a few suspended, and join requests spread at random.

    Return how many groups are nearly full and suspended, and how many requests fit in their groups.
    """
    group_ids: list[str] = fake.add_groups(groups, "Demo group")
    capacity: int = fake.max_participants
    serial = crowded = suspended = 0
    rooms: list[int] = []
    for index, group_id in enumerate(group_ids):
        group = fake.groups[group_id]
        if groups >= 10 and index % 100 == 7:
            group.suspended = True
            suspended += 1
        members = rng.randint(capacity - 2, capacity) if rng.random() < 0.1 else 0
        crowded += members > 0
        for _ in range(members):
            serial += 1
            group.participants.append(f"1555{serial:07d}")
        rooms.append(0 if group.suspended else capacity - members)
    counts = [0] * groups
    for _ in range(requests):
        counts[rng.randrange(groups)] += 1
    fits = 0
    for group_id, count, room in zip(group_ids, counts, rooms, strict=True):
        if count:
            fake.add_join_requests(group_id, count)
        fits += min(count, room)
    return {"crowded": crowded, "suspended": suspended, "fits": fits}


async def _cmd_demo(ctx: _Context) -> int:
    from .testing import FakeGraphAPI

    args = ctx.args
    if args.groups > 100_000:
        raise _usage("--groups must be at most 100000")
    human = not ctx.json
    async with FakeGraphAPI(
        latency=args.latency, max_groups=max(10_000, args.groups), record_requests=False, seed=args.seed
    ) as fake:
        seeded = _seed_demo(fake, args.groups, args.requests, random.Random(args.seed))
        if human:
            ctx.out(f"Fake Graph API on {fake.base_url} (latency {args.latency:g}s per request)")
            ctx.out(
                f"Seeded {format_count(args.groups)} groups ({format_count(seeded['crowded'])} nearly full, "
                f"{format_count(seeded['suspended'])} suspended; a group holds at most {fake.max_participants} "
                f"participants) and {format_count(args.requests)} join requests, of which "
                f"{format_count(seeded['fits'])} fit: the others will fail (#131204 Participant limit reached, "
                "#131207 Group suspended)."
            )
            ctx.out()
        async with fake.client() as client:
            started = time.monotonic()
            streamed = 0
            sample: list[str] = []
            async for group in client.iter_groups(page_size=PAGE_SIZE):
                streamed += 1
                if len(sample) < 5:
                    sample.append(group.id)
            listing_time = time.monotonic() - started
            infos = await asyncio.gather(
                *(client.get_group(gid, fields=["subject", "total_participant_count"]) for gid in sample)
            )
            pending = [await _count_open_requests(client, gid) for gid in sample]
            if human:
                ctx.out(f"Streamed {format_count(streamed)} groups in {format_duration(listing_time)}. A sample:")
                rows = [
                    (info.id, info.subject, info.total_participant_count, open_requests)
                    for info, open_requests in zip(infos, pending, strict=True)
                ]
                ctx.out(format_table(("GROUP ID", "SUBJECT", "PARTICIPANTS", "OPEN REQUESTS"), rows, cut={1}))
                ctx.out()
            report = BulkReport()
            fake.reset_stats()
            progress = ProgressDisplay(ctx.stderr, label="approving", total=args.requests, live=ctx.live_progress)
            job_started = time.monotonic()
            try:
                await run_all_join_requests(
                    client,
                    group_ids=None,
                    reject=False,
                    concurrency=args.concurrency,
                    batch_size=8,
                    on_progress=progress,
                    resume=None,
                    phone_number_id=None,
                    result=report,
                )
            except asyncio.CancelledError:
                progress.finish(interrupted=True)
                if _save_report(ctx, args.report, report):
                    ctx.note(f"{PROG}: interrupted: partial report written to {args.report}")
                    ctx.interrupt_noted = True
                raise
            progress.finish()
            elapsed = time.monotonic() - job_started
        http_requests = fake.stats.requests
        approved = fake.approved
        twice = sum(1 for times in fake.join_request_sends.values() if times > 1)
        still_pending = sum(len(group.join_requests) for group in fake.groups.values())
    saved = _save_report(ctx, args.report, report)
    summary = _summary(report, elapsed, args.report if saved else None)
    summary["http_requests"] = http_requests
    summary["http_requests_per_second"] = round(http_requests / elapsed, 1) if elapsed > 0 else None
    server = {"approved": sum(approved.values()), "sent_twice": twice, "still_pending": still_pending}
    if ctx.json:
        seeded.update(groups=args.groups, join_requests=args.requests)
        ctx.out_json({**summary, "seeded": seeded, "server": server})
    else:
        pairs = _summary_pairs(summary, "approved")
        rate = summary["http_requests_per_second"]
        pairs.insert(-1, ("HTTP requests", f"{format_count(http_requests)} ({rate or 0:,.0f}/s)"))
        ctx.out(key_value_table(pairs))
        ctx.out()
        ctx.out(
            f"Server check: {format_count(server['approved'])} join requests approved; "
            f"{'no' if not twice else format_count(twice)} join request id sent twice; "
            f"{format_count(still_pending)} still pending (their groups are full or suspended)."
        )
    ran_to_end = report.groups_exhausted and report.stopped_by is None
    if report.stopped_by is not None:
        ctx.error(f"the job stopped early: {report.stopped_by}")
    return EXIT_OK if ran_to_end and saved else EXIT_FAILED


async def _count_open_requests(client: GroupsClient, group_id: str) -> int:
    return sum([1 async for _ in client.iter_join_requests(group_id, page_size=PAGE_SIZE)])


# ------------------------------------------------------------------------------------------------------ main


def _run(handler: Callable[[_Context], Awaitable[int]], ctx: _Context) -> int:
    """Run a command on a new event loop; Ctrl-C cancels it so it can clean up and write its report."""

    async def runner() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        installed = False
        if task is not None:
            try:
                loop.add_signal_handler(signal.SIGINT, task.cancel)
                installed = True
            except (ValueError, RuntimeError, NotImplementedError):
                pass  # not the main thread, or no signal support: Ctrl-C raises KeyboardInterrupt instead
        try:
            return await handler(ctx)
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGINT)

    return asyncio.run(runner())


def _logging_handler(verbose: bool, stream: TextIO) -> tuple[logging.Logger, logging.Handler, int]:
    logger = logging.getLogger("wa_groups")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    level = logger.level
    if verbose and (logger.level == logging.NOTSET or logger.level > logging.INFO):
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger, handler, level


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wa-groups`` command with ``argv`` (default: ``sys.argv[1:]``) and return its exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    backend = _backend_of(arguments)
    elsewhere = _ELSEWHERE[backend].get(_command_word(arguments) or "")
    if elsewhere is not None:
        sys.stderr.write(f"{PROG}: error: '{_command_word(arguments)}' needs --backend {elsewhere}\n")
        return EXIT_USAGE
    parser = _build_parser(backend)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)
    ctx = _Context(args, sys.stdout, sys.stderr)
    logger, log_handler, log_level = _logging_handler(bool(ctx.option("verbose", False)), sys.stderr)
    try:
        return _run(args.handler, ctx)
    except (KeyboardInterrupt, asyncio.CancelledError):
        if not ctx.interrupt_noted:
            ctx.note(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except _CommandError as error:
        ctx.error(error)
        return error.status
    except ClientValidationError as error:
        ctx.error(error)
        return EXIT_USAGE
    except WAGroupsError as error:
        ctx.error(error)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader of stdout went away (e.g. '| head'): stop quietly, without a second error at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_FAILED
    finally:
        logger.removeHandler(log_handler)
        logger.setLevel(log_level)
