"""Run every code example of the documentation, as it stands, against the fake Graph server.

Conventions of the pages under ``docs/`` (see "About the examples" in ``docs/index.md``):

* A ```` ```python ```` block is a complete program. It starts its own ``FakeGraphAPI`` on 127.0.0.1 and
  ends with ``asyncio.run(main())``; it is executed here in a fresh namespace as ``__main__``, and the test
  fails if it raises (examples check their results with ``assert``).
* A ```` ```python ```` block preceded by ``<!-- pytest -->`` is a pytest test module: it is written to a
  temporary directory and run with pytest (strict asyncio mode, warnings as errors) in a child process,
  which must pass.
* A ```` ```console ```` block is a shell session: each ``$ wa-groups ...`` line runs in-process against a
  fake server (one per page, shared by the page's blocks in order) and must exit with status 0.
  ``$GROUP_ID``, ``$JOIN_REQUEST_ID`` and ``$SECOND_JOIN_REQUEST_ID`` name a seeded group with open join
  requests; ``export WA_...`` lines are skipped, since the test points ``WA_*`` at the fake itself.
  ``> FILE`` at the end of a command writes its stdout to FILE.
* A console block preceded by ``<!-- fake-serve -->`` starts with a ``$ wa-groups ... fake serve`` line: the
  test runs that command as written in a child process, as a reader would in a first shell, and takes the
  ``export`` lines it prints (the reader pastes them into a second shell) for the commands that follow. A page
  with such a block gets no other fake.
* A block preceded by ``<!-- not-tested -->`` is skipped. That marker is only for what needs real
  credentials or never ends; a skipped Python block must be followed by a runnable twin.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import inspect
import io
import linecache
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from wa_groups import errors as errors_module
from wa_groups._graph.errors import AUTH_SUBCODES, ERROR_CLASSES
from wa_groups.cli import main
from wa_groups.cli._parser import build_parser as _build_parser
from wa_groups.testing import FakeGraphAPI
from wa_groups.testing.threaded import ThreadedFake

DOCS = Path(__file__).resolve().parent.parent / "docs"
NOT_TESTED = "<!-- not-tested -->"
PYTEST_MODULE = "<!-- pytest -->"
FAKE_SERVE = "<!-- fake-serve -->"
REPO_ROOT = DOCS.parent
RUNNABLE_LANGUAGES = frozenset({"python", "py", "python3"})
#: Seconds one example may take before it counts as hung.
EXAMPLE_DEADLINE = 20.0

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


@attrs.frozen
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int
    language: str
    marker: str | None
    code: str

    @property
    def where(self) -> str:
        page = self.page.relative_to(DOCS) if self.page.is_relative_to(DOCS) else self.page.name
        return f"{page}:{self.line}"


def pages() -> list[Path]:
    return sorted(path for path in DOCS.rglob("*.md") if "_build" not in path.relative_to(DOCS).parts)


def blocks(page: Path) -> list[Block]:
    """Return the fenced blocks of a Markdown page, with the HTML comment marker just before each, if any."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    previous = ""
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        fence, info, start = match["fence"], match["info"].strip(), index
        body: list[str] = []
        index += 1
        while index < len(lines):
            closing = lines[index].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            body.append(lines[index])
            index += 1
        language = info.split()[0].lower() if info else ""
        marker = previous if previous in (NOT_TESTED, PYTEST_MODULE, FAKE_SERVE) else None
        found.append(Block(page, start + 1, language, marker, "\n".join(body) + "\n"))
        previous = ""
        index += 1
    return found


ALL_BLOCKS = [block for page in pages() for block in blocks(page)]
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.language in RUNNABLE_LANGUAGES and b.marker != NOT_TESTED]
CONSOLE_PAGES = sorted(
    {b.page for b in ALL_BLOCKS if b.language == "console" and b.marker != NOT_TESTED}, key=lambda p: str(p)
)


@contextlib.contextmanager
def deadline(seconds: float, where: str) -> Iterator[None]:
    """Fail instead of hanging when an example runs longer than ``seconds``."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"{where} ran for more than {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty directory, with the environment restored afterwards and no WA_* variables."""
    monkeypatch.chdir(tmp_path)
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("WA_"):
            del os.environ[name]
    try:
        yield tmp_path
    finally:
        os.environ.clear()
        os.environ.update(saved)


# ------------------------------------------------------------------------------------------- python blocks


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.where for b in PYTHON_BLOCKS])
def test_python_example_runs(block: Block, isolated: Path) -> None:
    if block.marker == PYTEST_MODULE:
        module = isolated / "test_docs_example.py"
        module.write_text(block.code, encoding="utf-8")
        (isolated / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", str(module)],
            cwd=isolated,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 0, f"{block.where}:\n{completed.stdout}\n{completed.stderr}"
        return
    code = compile(block.code, block.where, "exec")
    # Let tracebacks show the example's own lines.
    linecache.cache[block.where] = (len(block.code), None, block.code.splitlines(keepends=True), block.where)
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(isolated / "example.py")}
    with deadline(EXAMPLE_DEADLINE, block.where):
        exec(code, namespace)
    with contextlib.suppress(RuntimeError):
        # An example must not leave an event loop running or installed.
        asyncio.get_running_loop()
        pytest.fail(f"{block.where} left an event loop running")


README = REPO_ROOT / "README.md"
README_BLOCKS = [b for b in blocks(README) if b.language in RUNNABLE_LANGUAGES and b.marker != NOT_TESTED]


@pytest.mark.parametrize("block", README_BLOCKS, ids=[f"README.md:{b.line}" for b in README_BLOCKS])
def test_readme_example_runs_as_pasted(block: Block, isolated: Path) -> None:
    """Each Python block of the README runs as it stands, with WA_* set as 'wa-groups fake serve' prints them."""
    where = f"README.md:{block.line}"
    server = ThreadedFake(FakeGraphAPI, timeout=EXAMPLE_DEADLINE).start()
    try:
        seed(server)
        fake = server.fake
        os.environ.update(
            WA_ACCESS_TOKEN=fake.access_token, WA_PHONE_NUMBER_ID=fake.phone_number_id, WA_BASE_URL=fake.base_url
        )
        code = compile(block.code, where, "exec")
        linecache.cache[where] = (len(block.code), None, block.code.splitlines(keepends=True), where)
        with deadline(EXAMPLE_DEADLINE, where):
            exec(code, {"__name__": "__main__", "__file__": str(isolated / "example.py")})
        assert server.call(lambda: any(g.subject == "Book club" for g in fake.groups.values()))
    finally:
        server.stop()


def test_readme_install_line_works_from_a_checkout() -> None:
    text = README.read_text(encoding="utf-8")
    assert "python -m pip install ." in text
    assert not re.search(r"^\s*(\$ )?pip install wa-groups\s*$", text, flags=re.MULTILINE)
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(\$ )?pip install wa-groups\s*$", index, flags=re.MULTILINE)


def test_examples_exist_on_every_guide_page() -> None:
    guide = {p.name for p in pages() if p.parent == DOCS} - {"index.md", "wuts.md", "cli.md"}
    with_examples = {b.page.name for b in PYTHON_BLOCKS}
    assert guide <= with_examples, f"pages without a runnable example: {sorted(guide - with_examples)}"


def test_untested_python_blocks_have_a_runnable_twin() -> None:
    for page in pages():
        python = [b for b in blocks(page) if b.language in RUNNABLE_LANGUAGES]
        for position, block in enumerate(python):
            if block.marker != NOT_TESTED:
                continue
            following = python[position + 1] if position + 1 < len(python) else None
            assert following is not None and following.marker != NOT_TESTED, (
                f"{block.where} is not tested and the next Python block is not a runnable twin"
            )


def test_python_examples_are_plain_fences() -> None:
    """Examples written as directives (``{code-block} python``) would escape this test: forbid them."""
    for page in pages():
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"\{(code-block|code|sourcecode)\}\s+py", text), f"{page}: use a ```python fence"


# ------------------------------------------------------------------------------------------ console blocks


def seed(server: ThreadedFake[FakeGraphAPI]) -> dict[str, str]:
    """Seed the groups and join requests the console examples name, on the fake's own loop."""

    def add() -> dict[str, str]:
        fake = server.fake
        group = fake.add_group(
            "Book club", join_approval_mode="approval_required", participants=["+1 555 0100", "+1 555 0101"]
        )
        fake.add_groups(3, "Running club")
        requests = fake.add_join_requests(group, 4)
        return {"GROUP_ID": group, "JOIN_REQUEST_ID": requests[0], "SECOND_JOIN_REQUEST_ID": requests[1]}

    return server.call(add)


def commands(block: Block) -> list[str]:
    """Return the ``$ ...`` command lines of a console block, continuation lines joined."""
    found: list[str] = []
    pending: str | None = None
    for raw in block.code.splitlines():
        line = raw.rstrip()
        if pending is not None:
            pending += " " + line.strip()
        elif line.startswith("$ "):
            pending = line[2:].strip()
        else:
            continue
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        found.append(pending)
        pending = None
    return found


class ServedFake:
    """``wa-groups ... fake serve`` run as a docs page says, in a child process; stopped with Ctrl-C."""

    def __init__(self, words: list[str], cwd: Path) -> None:
        env = {name: value for name, value in os.environ.items() if not name.startswith(("WA_", "WUTS_"))}
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.child = subprocess.Popen(
            [sys.executable, "-m", "wa_groups", *words[1:]],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def exports(self) -> dict[str, str]:
        """Read the ``export`` lines the fake prints (the environment, then the example ids)."""
        assert self.child.stdout is not None
        found: dict[str, str] = {}
        timer = threading.Timer(EXAMPLE_DEADLINE, self.child.kill)  # a fake that never prints must not hang
        timer.start()
        try:
            while "GROUP_ID" not in found:
                line = self.child.stdout.readline()
                assert line, f"the fake ended before printing its export lines: {self.stop()}"
                words = shlex.split(line)
                assert words[0] == "export", line
                found.update(word.split("=", 1) for word in words[1:])  # type: ignore[misc]
        finally:
            timer.cancel()
        return found

    def stop(self) -> str:
        if self.child.poll() is None:
            self.child.send_signal(signal.SIGINT)
        try:
            _, err = self.child.communicate(timeout=EXAMPLE_DEADLINE)
        except subprocess.TimeoutExpired:
            self.child.kill()
            _, err = self.child.communicate()
        return err


def _run_command(words: list[str], where: str, capsys: pytest.CaptureFixture[str], secret: str | None) -> None:
    target = None
    if len(words) > 2 and words[-2] == ">":
        words, target = words[:-2], words[-1]
    if words[1:2] == ["completion"] and importlib.util.find_spec("shtab") is None:
        return  # the optional shtab package is not installed here: the page says the command then exits 2
    with deadline(EXAMPLE_DEADLINE, where):
        status = main(words[1:])
    captured = capsys.readouterr()
    assert status == 0, f"{where}: {shlex.join(words)!r} exited {status}\n{captured.out}\n{captured.err}"
    if secret is not None:
        assert secret not in captured.out + captured.err
    if target is not None:
        Path(target).write_text(captured.out, encoding="utf-8")


@pytest.mark.parametrize("page", CONSOLE_PAGES, ids=[str(p.relative_to(DOCS)) for p in CONSOLE_PAGES])
def test_console_examples_run(page: Path, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    served: list[ServedFake] = []
    server: ThreadedFake[FakeGraphAPI] | None = None
    secret: str | None = None
    try:
        if not any(block.marker == FAKE_SERVE for block in blocks(page)):
            server = ThreadedFake(FakeGraphAPI, timeout=EXAMPLE_DEADLINE).start()
            variables = seed(server)
            fake = server.fake
            secret = fake.access_token
            os.environ.update(
                WA_ACCESS_TOKEN=fake.access_token,
                WA_PHONE_NUMBER_ID=fake.phone_number_id,
                WA_BASE_URL=fake.base_url,
                WA_API_VERSION=fake.api_version,
                **variables,
            )
        ran = 0
        for block in blocks(page):
            if block.language != "console" or block.marker == NOT_TESTED:
                continue
            lines = commands(block)
            if block.marker == FAKE_SERVE:
                first = shlex.split(lines[0])
                assert first[0] == "wa-groups" and "fake" in first and "serve" in first, block.where
                for earlier in served:
                    earlier.stop()
                served.append(ServedFake(first, isolated))
                os.environ.update(served[-1].exports())
                lines = lines[1:]
                ran += 1
            for command in lines:
                words = [os.path.expandvars(word) for word in shlex.split(command)]
                if words[0] == "export" and all(w.split("=", 1)[0].startswith("WA_") for w in words[1:]):
                    continue
                assert words[0] == "wa-groups", f"{block.where}: cannot run {command!r} (mark it not-tested)"
                _run_command(words, block.where, capsys, secret)
                ran += 1
        assert ran, f"{page}: no command ran"
    finally:
        for running in served:
            running.stop()
        if server is not None:
            server.stop()


# ------------------------------------------------------------------------------------- coverage of the docs


def _subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = (*prefix, name)
                nested = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
                if nested:
                    yield from _subcommands(sub, path)
                else:
                    yield path


def test_cli_page_shows_the_help_of_every_command() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    shown = {tuple(m.split()) for m in re.findall(r"^```\{cli-help\}[ \t]*(.*)$", text, flags=re.MULTILINE)}
    expected: set[tuple[str, ...]] = {(), *_subcommands(_build_parser())}
    if "backend" in inspect.signature(_build_parser).parameters:
        wuts = ("--backend", "wuts")
        expected |= {wuts, *((*wuts, *words) for words in _subcommands(_build_parser("wuts")))}
    assert expected <= shown, f"commands without their help on docs/cli.md: {sorted(expected - shown)}"
    assert shown <= expected, f"docs/cli.md shows commands that do not exist: {sorted(shown - expected)}"
    for words in sorted(shown):
        with contextlib.redirect_stdout(io.StringIO()):
            assert main([*words, "--help"]) == 0


def test_errors_page_covers_every_class_and_code() -> None:
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    for name in errors_module.__all__:
        assert f"`{name}`" in text or f"{name}>" in text or f".{name}`" in text, f"docs/errors.md omits {name}"
    for code in [*ERROR_CLASSES, *AUTH_SUBCODES]:
        if 200 <= code <= 299:
            assert "200-299" in text, "docs/errors.md omits the permission range 200-299"
            continue
        assert re.search(rf"\b{code}\b", text), f"docs/errors.md omits Graph code {code}"
