"""What every command receives (the parsed arguments and the output streams) and what it gives back (a status)."""

from __future__ import annotations

import argparse
import enum
import json
from typing import Any, TextIO

PROG = "wa-groups"


class ExitStatus(enum.IntEnum):
    """The exit statuses of ``wa-groups``; ``wa-groups --help`` lists them with their :attr:`meaning`."""

    OK = 0
    FAILED = 1
    USAGE = 2
    NETWORK = 3
    INTERRUPTED = 130

    @property
    def meaning(self) -> str:
        """Return what the status tells, as the help prints it."""
        return _MEANINGS[self]


_MEANINGS = {
    ExitStatus.OK: "everything was done (or shown, with --dry-run)",
    ExitStatus.FAILED: "some items failed, the API refused the call, or a question was answered no",
    ExitStatus.USAGE: "usage or configuration error (bad arguments, no access token, invalid values, port in use)",
    ExitStatus.NETWORK: "no answer from the server, or an answer that is not the API's (check --base-url)",
    ExitStatus.INTERRUPTED: (
        "interrupted (Ctrl-C); bulk jobs write their report first, continue them with --resume FILE"
    ),
}


class CommandError(Exception):
    """A failure reported as one line on stderr with its exit status."""

    def __init__(self, message: str, status: int = ExitStatus.FAILED) -> None:
        super().__init__(message)
        self.status = status


def error_line(message: object) -> str:
    """Return ``wa-groups: error: <message>`` on one line: every error of the command is said this way."""
    text = " ".join(str(message).split()) or "unknown error"
    return f"{PROG}: error: {text}"


def usage(message: str) -> CommandError:
    """Return the error of a bad argument or setting (exit status 2)."""
    return CommandError(message, ExitStatus.USAGE)


class Context:
    """What a command needs: parsed arguments, output streams and the secrets to keep out of messages."""

    def __init__(self, args: argparse.Namespace, stdout: TextIO, stderr: TextIO, stdin: TextIO | None = None) -> None:
        self.args = args
        self.stdout = stdout
        self.stderr = stderr
        #: Where a confirmation is read from (``None``: never ask).
        self.stdin = stdin
        #: Values never to show: every message on stderr has them replaced by ``***``.
        self.secrets: list[str] = []
        #: True once a command has said on stderr that it was interrupted.
        self.interrupt_noted = False

    def option(self, name: str, default: Any = None) -> Any:
        """Return the parsed option ``name``, or ``default`` when the command has no such option."""
        return getattr(self.args, name, default)

    @property
    def json(self) -> bool:
        """Tell whether the output is JSON for scripts (``--json``)."""
        return bool(self.option("json", False))

    def out(self, text: str = "") -> None:
        """Write a line on stdout."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def out_json(self, data: Any) -> None:
        """Write ``data`` as indented JSON on stdout."""
        self.out(json.dumps(data, indent=2, ensure_ascii=False))

    @property
    def verbosity(self) -> int:
        """Return how much to log: -1 with ``--quiet``, else the number of ``-v`` given."""
        if self.option("quiet", False):
            return -1
        return int(self.option("verbose", 0) or 0)

    def note(self, text: str) -> None:
        """Write a line on stderr, secrets hidden."""
        self.stderr.write(self.redact(text) + "\n")
        self.stderr.flush()

    def info(self, text: str) -> None:
        """Write a line on stderr unless ``--quiet`` was given (hints, not errors)."""
        if self.verbosity >= 0:
            self.note(text)

    def error(self, message: object) -> None:
        """Write ``wa-groups: error: <message>`` on one line of stderr."""
        self.note(error_line(message))

    def redact(self, text: str) -> str:
        """Return ``text`` with every known secret replaced by ``***``."""
        for secret in self.secrets:
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    @property
    def live_progress(self) -> bool:
        """Tell whether stderr is a terminal, where progress is redrawn in place."""
        return is_terminal(self.stderr)

    @property
    def interactive(self) -> bool:
        """Tell whether a question can be asked: stdin and stderr are both terminals."""
        return is_terminal(self.stdin) and is_terminal(self.stderr)


def is_terminal(stream: object) -> bool:
    """Tell whether ``stream`` is a terminal (``False`` for anything that cannot say)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
