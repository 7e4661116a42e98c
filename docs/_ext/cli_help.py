"""A Sphinx directive that inserts the ``--help`` text of a ``wa-groups`` command at build time.

``{cli-help} groups list`` renders exactly what ``wa-groups groups list --help`` prints in an 80-column
terminal, so the command-line page can never drift from the program.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

WIDTH = "80"


def help_text(words: list[str]) -> str:
    """Return the help ``wa-groups <words> --help`` prints, for a terminal ``WIDTH`` columns wide."""
    from wa_groups.cli import main

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            status = main([*words, "--help"])
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    if status != 0:
        raise ValueError(f"'wa-groups {' '.join(words)} --help' exited with status {status}")
    return out.getvalue().rstrip() + "\n"


class CliHelp(SphinxDirective):
    """``{cli-help} WORDS...``: the help text of ``wa-groups WORDS... --help`` as a literal block."""

    optional_arguments = 8
    final_argument_whitespace = False
    option_spec: ClassVar[dict[str, Any]] = {"global-options": directives.flag}

    def run(self) -> list[nodes.Node]:
        """Return the literal block of the help text, or an error node when the command cannot print it."""
        words = list(self.arguments)
        try:
            text = help_text(words)
        except Exception as error:  # report it as a build warning (an error under -W)
            return [self.state.document.reporter.error(f"cli-help {' '.join(words)}: {error}", line=self.lineno)]
        if words and "global-options" not in self.options:
            # A command's help only names the global options that apply to it; should one ever list them in full
            # (an argparse group "global options:"), the page still shows them once, with 'wa-groups --help'.
            text = text.split("\nglobal options:\n", 1)[0].rstrip() + "\n"
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the ``cli-help`` directive."""
    app.add_directive("cli-help", CliHelp)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
