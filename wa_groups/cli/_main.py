"""``main()``: parse, run the command on its own event loop, and turn what went wrong into an exit status."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from ..errors import ClientValidationError, ResponseError, TransportError, WAGroupsError
from ._args import Handler
from ._config import BACKEND_VARIABLE, BACKENDS, env, network_hint
from ._context import PROG, CommandError, Context, ExitStatus, error_line
from ._parser import backend_having, backend_of, build_parser, command_word

#: The exit status of each error a command may raise, most specific first (a CommandError carries its own).
ERROR_STATUS: tuple[tuple[type[Exception], ExitStatus], ...] = (
    (ClientValidationError, ExitStatus.USAGE),
    (TransportError, ExitStatus.NETWORK),
    (ResponseError, ExitStatus.NETWORK),
    (WAGroupsError, ExitStatus.FAILED),
)
#: Attributes of a command's namespace that collect free words, so that a word after an option still counts.
_WORD_LISTS = ("ids", "users")


def _run(handler: Handler, ctx: Context) -> int:
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


#: The log level of each verbosity: --quiet, none, -v, -vv.
_LEVELS = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


def _logging_handler(verbosity: int, stream: TextIO) -> tuple[logging.Logger, logging.Handler, int]:
    logger = logging.getLogger("wa_groups")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    wanted = _LEVELS[max(-1, min(2, verbosity))]
    handler.setLevel(wanted)
    level = logger.level
    if logger.level == logging.NOTSET or logger.level > wanted:
        logger.setLevel(wanted)
    logger.addHandler(handler)
    return logger, handler, level


def _take_extra_words(args: argparse.Namespace, extras: list[str]) -> None:
    """Add words argparse left over (e.g. an id after ``--all``) to the command's list of words, or refuse them."""
    target = next((name for name in _WORD_LISTS if isinstance(getattr(args, name, None), list)), None)
    if target is None or any(word.startswith("-") for word in extras):
        where = str(getattr(args, "help_prog", PROG))
        sys.stderr.write(error_line(f"unrecognized arguments: {' '.join(extras)} (see '{where} --help')") + "\n")
        raise SystemExit(ExitStatus.USAGE)
    getattr(args, target).extend(extras)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wa-groups`` command with ``argv`` (default: ``sys.argv[1:]``) and return its exit status."""
    return int(_main(argv))


def _main(argv: Sequence[str] | None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    chosen = env(BACKEND_VARIABLE)
    if chosen is not None and chosen not in BACKENDS:
        sys.stderr.write(error_line(f"{BACKEND_VARIABLE}={chosen!r}: expected one of {', '.join(BACKENDS)}") + "\n")
        return ExitStatus.USAGE
    backend = backend_of(arguments, chosen)
    word = command_word(arguments)
    elsewhere = None if word is None else backend_having(word, backend)
    if elsewhere is not None:
        sys.stderr.write(error_line(f"'{word}' needs --backend {elsewhere}") + "\n")
        return ExitStatus.USAGE
    parser = build_parser(backend, lazy=True)
    try:
        args, extras = parser.parse_known_args(arguments)
        if extras:
            _take_extra_words(args, extras)
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (ExitStatus.OK if code is None else ExitStatus.USAGE)
    ctx = Context(args, sys.stdout, sys.stderr, sys.stdin)
    logger, log_handler, log_level = _logging_handler(ctx.verbosity, sys.stderr)
    try:
        return _run(args.handler, ctx)
    except (KeyboardInterrupt, asyncio.CancelledError):
        if not ctx.interrupt_noted:
            ctx.note(f"{PROG}: interrupted")
        return ExitStatus.INTERRUPTED
    except CommandError as error:
        ctx.error(error)
        return error.status
    except WAGroupsError as error:
        status = next(status for kind, status in ERROR_STATUS if isinstance(error, kind))
        ctx.error(network_hint(ctx, error) if status == ExitStatus.NETWORK else error)
        return status
    except BrokenPipeError:
        # The reader of stdout went away (e.g. '| head'): stop quietly, without a second error at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return ExitStatus.FAILED
    finally:
        logger.removeHandler(log_handler)
        logger.setLevel(log_level)
