"""The top-level parser: global options, help epilog and the command table.

The table (pip's ``commands_dict``) maps each command of a backend to the module that defines it and to the
summary ``wa-groups --help`` lists. A command's module is imported only when the command line reaches it, so
``wa-groups groups list`` loads neither the webhook receiver nor the demo.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .._version import __version__
from ._args import CommandAdder, seconds
from ._config import BACKENDS, Backend, environment_help
from ._context import PROG, ExitStatus


class CommandInfo(NamedTuple):
    """A command of the table."""

    module: str
    """The module that adds the command's actions and handlers, with ``add_commands(parser, command)``."""
    summary: str
    """The line ``wa-groups --help`` shows."""
    leaf: bool = False
    """The command has no actions: it takes the global options itself (``demo``)."""


#: Every command of each backend, in the order of the help.
COMMANDS: dict[str, dict[str, CommandInfo]] = {
    "graph": {
        "groups": CommandInfo("wa_groups.cli.graph_groups", "list, show, create, update and delete groups"),
        "invite-link": CommandInfo("wa_groups.cli.graph_invite_link", "get, reset or delete a group's invite link"),
        "participants": CommandInfo("wa_groups.cli.graph_participants", "add or remove participants"),
        "join-requests": CommandInfo("wa_groups.cli.graph_join_requests", "list, approve or reject join requests"),
        "webhooks": CommandInfo("wa_groups.cli.webhooks", "receive webhooks"),
        "demo": CommandInfo(
            "wa_groups.cli.demo",
            "approve 10,000 join requests across 1,000 groups on an embedded fake Graph API",
            leaf=True,
        ),
    },
    "wuts": {
        "groups": CommandInfo("wa_groups.cli.wuts_groups", "list, show, create, update and leave groups"),
        "invite-link": CommandInfo("wa_groups.cli.wuts_invite_link", "get or reset a group's invite link"),
        "participants": CommandInfo("wa_groups.cli.wuts_participants", "add, remove, promote or demote participants"),
        "communities": CommandInfo(
            "wa_groups.cli.wuts_communities", "create communities, manage their members and groups"
        ),
    },
}

_DESCRIPTIONS = {
    "graph": "Manage WhatsApp groups through the WhatsApp Business Cloud API Groups API.",
    "wuts": "Manage WhatsApp groups through the WUTS gateway (--backend wuts).",
}
_EPILOG_ENDS = {
    "graph": "\n'wa-groups --backend wuts --help' lists the commands of the WUTS gateway backend.\n",
    "wuts": "\nParticipants are phone numbers with their country code in any usual spelling, user JIDs or LIDs;\n"
    "groups and communities are JIDs (<digits>@g.us, or just the digits).\n",
}
#: Global options that take a value (to find the command word).
_VALUED_OPTIONS = (
    "--backend",
    "--token-file",
    *{setting.flag for backend in BACKENDS.values() for setting in backend.settings},
    "--timeout",
)


class LazyParser(argparse.ArgumentParser):
    """A parser whose arguments are added by ``fill`` the first time it parses or prints its help."""

    def __init__(self, *args: Any, fill: Callable[[argparse.ArgumentParser], None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._fill = fill

    def load(self) -> None:
        """Add the arguments now (once)."""
        fill, self._fill = self._fill, None
        if fill is not None:
            fill(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Load the arguments, then parse as usual."""
        self.load()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        """Load the arguments, then format the help as usual."""
        self.load()
        return super().format_help()


def _epilog(backend: str) -> str:
    statuses = "".join(f"  {int(status):<5}{status.meaning}\n" for status in ExitStatus)
    environment = environment_help(BACKENDS[backend])
    return f"exit status:\n{statuses}\nenvironment:\n{environment}{_EPILOG_ENDS[backend]}"


def _global_options(settings: Backend) -> argparse.ArgumentParser:
    """Return the options accepted before or after any command (their defaults are filled in later)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("global options")
    suppress = argparse.SUPPRESS
    group.add_argument(
        "--backend",
        choices=tuple(BACKENDS),
        default=suppress,
        help="the API to talk to: graph (Meta's Cloud API, the default) or wuts (the WUTS gateway)",
    )
    group.add_argument("--json", action="store_true", default=suppress, help="print JSON on stdout for scripts")
    group.add_argument(
        "--token-file",
        metavar="PATH",
        default=suppress,
        help=f"read the {settings.token_name} from PATH (${settings.token_variable})",
    )
    for setting in settings.settings:
        shown = f"${setting.variable}" + (f", {setting.default}" if setting.default else "")
        group.add_argument(setting.flag, metavar=setting.metavar, default=suppress, help=f"{setting.what} ({shown})")
    group.add_argument(
        "--timeout", metavar="SECONDS", type=seconds, default=suppress, help="seconds per HTTP exchange (30)"
    )
    group.add_argument("-v", "--verbose", action="store_true", default=suppress, help="log retries on stderr")
    return parent


def build_parser(backend: str = "graph", *, lazy: bool = False) -> argparse.ArgumentParser:
    """Return the parser of ``backend``'s commands.

    With ``lazy``, a command's module is imported only when the command is parsed (or its help printed);
    otherwise every command is loaded at once (for tools that walk the whole tree, like the docs).
    """
    common = _global_options(BACKENDS[backend])
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTIONS[backend],
        epilog=_epilog(backend),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=LazyParser)

    def command(
        parent: argparse._SubParsersAction[Any], name: str, summary: str, **kwargs: Any
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(
            name, help=summary, description=kwargs.pop("description", summary), parents=[common], **kwargs
        )
        return sub

    for name, info in COMMANDS[backend].items():
        fill = _filler(info.module, command)
        # A leaf command takes the global options itself; a command with actions leaves them to its actions.
        leaf: dict[str, Any] = {"description": info.summary, "parents": [common]} if info.leaf else {}
        sub = commands.add_parser(name, help=info.summary, fill=fill, **leaf)
        if not lazy:
            sub.load()
    return parser


def _filler(module: str, command: CommandAdder) -> Callable[[argparse.ArgumentParser], None]:
    def fill(parser: argparse.ArgumentParser) -> None:
        add_commands: Callable[[argparse.ArgumentParser, CommandAdder], None]
        add_commands = importlib.import_module(module).add_commands
        add_commands(parser, command)

    return fill


def backend_of(argv: Sequence[str]) -> str:
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


def command_word(argv: Sequence[str]) -> str | None:
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


def backend_having(command: str, backend: str) -> str | None:
    """Return the other backend that has ``command`` when ``backend`` lacks it, else ``None``."""
    if command in COMMANDS[backend]:
        return None
    return next((other for other, table in COMMANDS.items() if command in table), None)
