"""The top-level parser: global options, help epilog and the command table.

The table (pip's ``commands_dict``) maps each command of a backend to the module that defines it and to the
summary ``wa-groups --help`` lists. A command's module is imported only when the command line reaches it, so
``wa-groups groups list`` loads neither the webhook receiver nor the demo.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, NoReturn

from .._version import __version__
from ._args import CommandAdder, seconds
from ._config import BACKENDS, Backend, environment_help
from ._context import PROG, ExitStatus, error_line


class CommandInfo(NamedTuple):
    """A command of the table."""

    module: str
    """The module that adds the command's actions and handlers, with ``add_commands(parser, command)``."""
    summary: str
    """The line ``wa-groups --help`` shows."""
    leaf: bool = False
    """The command has no actions: it takes the global options itself (``demo``)."""
    connects: bool = True
    """A leaf command talks to the configured API (and takes the connection options)."""


#: Every command of each backend, in the order of the help.
COMMANDS: dict[str, dict[str, CommandInfo]] = {
    "graph": {
        "groups": CommandInfo("wa_groups.cli.graph_groups", "list, show, create, update and delete groups"),
        "invite-link": CommandInfo("wa_groups.cli.graph_invite_link", "get, reset or delete a group's invite link"),
        "participants": CommandInfo("wa_groups.cli.graph_participants", "add or remove participants"),
        "join-requests": CommandInfo("wa_groups.cli.graph_join_requests", "list, approve or reject join requests"),
        "webhooks": CommandInfo("wa_groups.cli.webhooks", "receive webhooks"),
        "messages": CommandInfo("wa_groups.cli.messages", "send, pin, unpin or broadcast messages to groups"),
        "fake": CommandInfo("wa_groups.cli.fake", "run a fake Graph API to try every command on"),
        "demo": CommandInfo(
            "wa_groups.cli.demo",
            "approve 10,000 join requests across 1,000 groups on an embedded fake Graph API",
            leaf=True,
            connects=False,
        ),
        "completion": CommandInfo(
            "wa_groups.cli.completion", "print a shell completion script (bash, zsh, fish)", leaf=True, connects=False
        ),
    },
    "wuts": {
        "groups": CommandInfo("wa_groups.cli.wuts_groups", "list, show, create, update and leave groups"),
        "invite-link": CommandInfo("wa_groups.cli.wuts_invite_link", "get or reset a group's invite link"),
        "participants": CommandInfo("wa_groups.cli.wuts_participants", "add, remove, promote or demote participants"),
        "communities": CommandInfo(
            "wa_groups.cli.wuts_communities", "create communities, manage their members and groups"
        ),
        "fake": CommandInfo("wa_groups.cli.fake", "run a fake WUTS gateway to try every command on"),
        "completion": CommandInfo(
            "wa_groups.cli.completion", "print a shell completion script (bash, zsh, fish)", leaf=True, connects=False
        ),
    },
}

_DESCRIPTIONS = {
    "graph": "Manage WhatsApp groups through the WhatsApp Business Cloud API Groups API.",
    "wuts": "Manage WhatsApp groups through the WUTS gateway.",
}
_EPILOG_ENDS = {
    "graph": "\n'wa-groups --backend wuts --help' (or WA_BACKEND=wuts) lists the commands of the WUTS gateway.\n"
    "'wa-groups fake serve' runs a fake Graph API on 127.0.0.1 to try every command on.\n",
    "wuts": "\nParticipants are phone numbers with their country code in any usual spelling, user JIDs or LIDs;\n"
    "groups and communities are JIDs (<digits>@g.us, or just the digits).\n",
}
#: The program name of each backend's usage lines, so that a copied line runs on the same backend.
PROGS = {"graph": PROG, "wuts": f"{PROG} --backend wuts"}
#: Global options that take a value (to find the command word).
_VALUED_OPTIONS = (
    "--backend",
    "--token-file",
    *{setting.flag for backend in BACKENDS.values() for setting in backend.settings},
    "--timeout",
)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line in the voice of every other error, with exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``wa-groups: error: <message> (see '<command> --help')`` on stderr and exit with status 2."""
        self.exit(ExitStatus.USAGE, error_line(f"{message} (see '{self.prog} --help')") + "\n")


class LazyParser(Parser):
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


class _Options(NamedTuple):
    """The global options as parents of a command's parser."""

    output: argparse.ArgumentParser
    """``--json``, ``-v``, ``--quiet`` and ``--backend``: every command takes them."""
    connection: argparse.ArgumentParser
    """The token, the API settings and ``--timeout``: commands that talk to an API take them."""


def _global_options(settings: Backend, *, shown: bool) -> _Options:
    """Return the options accepted before or after any command (their defaults are filled in later).

    With ``shown`` false their help is hidden: ``wa-groups --help`` describes them once, and a command's help only
    names those that apply to it.
    """
    suppress = argparse.SUPPRESS

    def helped(text: str) -> str:
        return text if shown else suppress

    output = argparse.ArgumentParser(add_help=False)
    group = output.add_argument_group("global options")
    group.add_argument("--json", action="store_true", default=suppress, help=helped("print JSON on stdout for scripts"))
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=suppress,
        help=helped("log on stderr: -v what is done and every retry, -vv each request too (never the token)"),
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=suppress,
        help=helped("print no progress and no hints, only errors"),
    )
    group.add_argument(
        "--backend",
        choices=tuple(BACKENDS),
        default=suppress,
        help=helped("the API: graph (Meta's Cloud API, the default) or wuts (the WUTS gateway) ($WA_BACKEND)"),
    )
    connection = argparse.ArgumentParser(add_help=False)
    group = connection.add_argument_group("global options")
    group.add_argument(
        "--token-file",
        metavar="PATH",
        default=suppress,
        help=helped(f"read the {settings.token_name} from PATH (${settings.token_variable})"),
    )
    for setting in settings.settings:
        shown_default = f"${setting.variable}" + (f", default {setting.default}" if setting.default else "")
        group.add_argument(
            setting.flag, metavar=setting.metavar, default=suppress, help=helped(f"{setting.what} ({shown_default})")
        )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=seconds,
        default=suppress,
        help=helped("seconds per HTTP exchange (default 30)"),
    )
    return _Options(output, connection)


def _applies(backend: str, connects: bool) -> str:
    """Return the line of a command's help that names the global options it takes."""
    names = ["--json", "-v/-vv", "--quiet"]
    if connects:
        names += ["--token-file", *(setting.flag for setting in BACKENDS[backend].settings), "--timeout"]
    return f"global options: {', '.join(names)} (see '{PROGS[backend]} --help')"


def build_parser(backend: str = "graph", *, lazy: bool = False) -> argparse.ArgumentParser:
    """Return the parser of ``backend``'s commands.

    With ``lazy``, a command's module is imported only when the command is parsed (or its help printed);
    otherwise every command is loaded at once (for tools that walk the whole tree, like the docs).
    """
    settings = BACKENDS[backend]
    visible = _global_options(settings, shown=True)
    hidden = _global_options(settings, shown=False)
    parser = Parser(
        prog=PROGS[backend],
        description=_DESCRIPTIONS[backend],
        epilog=_epilog(backend),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[visible.connection, visible.output],
    )
    parser.set_defaults(backend=backend)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=LazyParser)

    def parents(connects: bool) -> list[argparse.ArgumentParser]:
        return [hidden.connection, hidden.output] if connects else [hidden.output]

    def command(
        parent: argparse._SubParsersAction[Any], name: str, summary: str, *, connects: bool = True, **kwargs: Any
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(
            name,
            help=summary,
            description=kwargs.pop("description", summary),
            parents=parents(connects),
            epilog=_applies(backend, connects),
            **kwargs,
        )
        sub.set_defaults(help_prog=sub.prog)
        return sub

    for name, info in COMMANDS[backend].items():
        fill = _filler(info.module, command)
        # A leaf command takes the global options itself; a command with actions leaves them to its actions.
        leaf: dict[str, Any] = {}
        if info.leaf:
            leaf = {
                "description": info.summary,
                "parents": parents(info.connects),
                "epilog": _applies(backend, info.connects),
            }
        sub = commands.add_parser(name, help=info.summary, fill=fill, **leaf)
        if info.leaf:
            sub.set_defaults(help_prog=sub.prog)
        if not lazy:
            sub.load()
    return parser


def _filler(module: str, command: CommandAdder) -> Callable[[argparse.ArgumentParser], None]:
    def fill(parser: argparse.ArgumentParser) -> None:
        add_commands: Callable[[argparse.ArgumentParser, CommandAdder], None]
        add_commands = importlib.import_module(module).add_commands
        add_commands(parser, command)

    return fill


def backend_of(argv: Sequence[str], default: str | None = None) -> str:
    """Return the backend named by ``--backend`` (or an unambiguous prefix of it) anywhere in ``argv``.

    Without ``--backend``, ``default`` (from ``WA_BACKEND``) when it names a backend, else ``graph``. The parser
    is built for that backend, so its help and its commands are the backend's own. An unknown name gives
    ``graph`` here; the parser then refuses it.
    """
    backend = default if default in BACKENDS else "graph"
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
