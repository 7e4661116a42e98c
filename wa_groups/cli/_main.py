"""``main()``: parse, run the command on its own event loop, and turn what went wrong into an exit status."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from ..errors import ClientValidationError, WAGroupsError
from ._args import Handler
from ._context import PROG, CommandError, Context, ExitStatus
from ._parser import backend_having, backend_of, build_parser, command_word

#: The exit status of each error a command may raise, most specific first (a CommandError carries its own).
ERROR_STATUS: tuple[tuple[type[Exception], ExitStatus], ...] = (
    (ClientValidationError, ExitStatus.USAGE),
    (WAGroupsError, ExitStatus.FAILED),
)


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
    return int(_main(argv))


def _main(argv: Sequence[str] | None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    backend = backend_of(arguments)
    word = command_word(arguments)
    elsewhere = None if word is None else backend_having(word, backend)
    if elsewhere is not None:
        sys.stderr.write(f"{PROG}: error: '{word}' needs --backend {elsewhere}\n")
        return ExitStatus.USAGE
    parser = build_parser(backend, lazy=True)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (ExitStatus.OK if code is None else ExitStatus.USAGE)
    ctx = Context(args, sys.stdout, sys.stderr)
    logger, log_handler, log_level = _logging_handler(bool(ctx.option("verbose", False)), sys.stderr)
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
        ctx.error(error)
        return next(status for kind, status in ERROR_STATUS if isinstance(error, kind))
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
