"""``wa-groups completion bash|zsh|fish``: print a shell completion script, made by shtab from the parser."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from ._args import CommandAdder
from ._context import Context, ExitStatus, usage

#: The shells a script can be printed for, with where to put it.
SHELLS = {
    "bash": 'eval "$(wa-groups completion bash)" in ~/.bashrc',
    "zsh": "wa-groups completion zsh > ~/.zfunc/_wa-groups (~/.zfunc on $fpath)",
    "fish": "wa-groups completion fish > ~/.config/fish/completions/wa-groups.fish",
}


def add_commands(parser: argparse.ArgumentParser, command: CommandAdder) -> None:
    """Add the argument of ``completion`` to its parser."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = (
        "Print a completion script for SHELL on stdout. It needs the optional shtab\n"
        "package: python -m pip install 'wa-groups[cli]' (or just shtab).\n"
        "It completes the commands of the backend chosen when it is made (--backend\n"
        "or WA_BACKEND).\n\n"
        "Install the script:\n" + "".join(f"  {shell + ':':<6}{where}\n" for shell, where in SHELLS.items())
    )
    parser.add_argument("shell", metavar="SHELL", choices=tuple(SHELLS), help="bash, zsh or fish")
    parser.set_defaults(handler=completion)


def _shtab() -> Any:
    try:
        return importlib.import_module("shtab")
    except ImportError:
        return None


async def completion(ctx: Context) -> int:
    """Run ``completion SHELL``: the script for the backend in use."""
    shtab = _shtab()
    if shtab is None:
        raise usage(
            "shell completion needs the shtab package: python -m pip install 'wa-groups[cli]' "
            "(or python -m pip install shtab)"
        )
    from ._parser import build_parser

    parser = build_parser(str(ctx.option("backend", "graph")), lazy=False)
    parser.prog = "wa-groups"
    ctx.out(shtab.complete(parser, shell=ctx.args.shell).rstrip("\n"))
    return ExitStatus.OK
