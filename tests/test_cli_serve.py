"""The ``wa-groups`` command as a user meets it: every call a child process, against ``wa-groups fake serve``.

The fake is started the way docs/cli.md says (``wa-groups fake serve``, any free port), and the ``export``
lines it prints are what points the commands at it. Two tests drive the command on a pseudo-terminal (the
stdlib ``pty`` module): the live progress bar and the question a destructive command asks.
"""

from __future__ import annotations

import http.server
import json
import os
import pty
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = str(Path(__file__).resolve().parent.parent)
#: Upper bound of any wait on a child process: a safety net against hangs, never an assertion on speed.
DEADLINE = 60.0
FAKE_TOKEN = "wa-groups-fake-access-token"


def _base_env() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("WA_", "WUTS_"))}
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NO_COLOR", None)
    env["COLUMNS"] = "120"
    return env


class Served:
    """``wa-groups [--backend wuts] fake serve ...`` in a child process, and the variables it printed."""

    def __init__(self, *options: str, cwd: Path) -> None:
        self.child = subprocess.Popen(
            [sys.executable, "-m", "wa_groups", *options],
            cwd=cwd,
            env=_base_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.env: dict[str, str] = {}
        assert self.child.stdout is not None
        timer = threading.Timer(DEADLINE, self.child.kill)
        timer.start()
        try:
            while "GROUP_ID" not in self.env:
                line = self.child.stdout.readline()
                assert line, f"fake serve ended early: {self.stop()}"
                words = shlex.split(line)
                assert words[0] == "export"
                self.env.update(word.split("=", 1) for word in words[1:])  # type: ignore[misc]
        finally:
            timer.cancel()

    @property
    def port(self) -> int:
        url = self.env.get("WA_BASE_URL") or self.env["WUTS_BASE_URL"]
        return int(url.rsplit(":", 1)[1])

    def stop(self) -> tuple[int, str]:
        """Press Ctrl-C; return the exit status and stderr."""
        if self.child.poll() is None:
            self.child.send_signal(signal.SIGINT)
        try:
            _, err = self.child.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.child.kill()
            _, err = self.child.communicate()
        return self.child.returncode, err


Result = subprocess.CompletedProcess[str]


class Shell:
    """A second shell where the export lines were pasted: runs ``wa-groups ...`` as a child process."""

    def __init__(self, served: Served, cwd: Path) -> None:
        self.served = served
        self.cwd = cwd

    def env(self, **extra: str) -> dict[str, str]:
        return {**_base_env(), **self.served.env, **extra}

    def __call__(self, *argv: str, stdin: str = "", **extra: str) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "wa_groups", *argv],
            cwd=self.cwd,
            env=self.env(**extra),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        assert "Traceback" not in done.stderr, done.stderr
        if argv[:2] != ("fake", "serve"):
            assert FAKE_TOKEN not in done.stderr  # the fake's token is not secret, but the command never prints one
        return done


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-serve")


@pytest.fixture(scope="module")
def graph(workdir: Path) -> Iterator[Shell]:
    served = Served("fake", "serve", "--groups", "43", "--join-requests", "120", cwd=workdir)
    yield Shell(served, workdir)
    status, err = served.stop()
    assert status == 130
    assert "fake server stopped" in err


@pytest.fixture(scope="module")
def wuts(workdir: Path) -> Iterator[Shell]:
    served = Served("--backend", "wuts", "fake", "serve", "--groups", "3", cwd=workdir)
    yield Shell(served, workdir)
    served.stop()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Shell]:
    """A fake of its own for a test that changes much, slowed a little so a job's progress can be seen."""
    served = Served("fake", "serve", "--groups", "30", "--join-requests", "240", "--latency", "0.01", cwd=tmp_path)
    yield Shell(served, tmp_path)
    served.stop()


def _error_line(result: Result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wa-groups: error: ")
    return lines[0]


# ------------------------------------------------------------------------------------------------ fake serve


def test_fake_serve_prints_the_lines_to_paste(graph: Shell) -> None:
    env = graph.served.env
    assert env["WA_BASE_URL"].startswith("http://127.0.0.1:")
    assert env["WA_ACCESS_TOKEN"] == FAKE_TOKEN
    assert env["WA_PHONE_NUMBER_ID"]
    assert env["GROUP_ID"] and env["JOIN_REQUEST_ID"]
    shown = graph("groups", "show", env["GROUP_ID"])
    assert shown.returncode == 0
    assert "Book club" in shown.stdout


def test_a_port_in_use_is_a_usage_error(graph: Shell) -> None:
    result = graph("fake", "serve", "--port", str(graph.served.port))
    assert result.returncode == 2
    assert f"port {graph.served.port} is in use" in _error_line(result)


def test_python_m_wa_groups_testing_serves_too(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "wa_groups.testing"],
        cwd=tmp_path,
        env=_base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().startswith("export WA_BASE_URL=http://127.0.0.1:")
    finally:
        child.send_signal(signal.SIGINT)
        child.communicate(timeout=DEADLINE)
    assert child.returncode == 130


# ---------------------------------------------------------------------------------------------------- listing


def test_listing_gives_the_cursor_to_continue_from(graph: Shell) -> None:
    first = graph("--json", "groups", "list", "--limit", "3")
    assert first.returncode == 0
    page = json.loads(first.stdout)
    assert len(page["groups"]) == 3 and page["after"]
    second = json.loads(graph("--json", "groups", "list", "--limit", "3", "--after", page["after"]).stdout)
    assert {g["id"] for g in second["groups"]}.isdisjoint(g["id"] for g in page["groups"])
    table = graph("groups", "list", "--limit", "3")
    last = table.stdout.splitlines()[-1]
    assert last.startswith("3 groups shown; more exist. Next page: wa-groups groups list --limit 3 --after ")
    # The command the table prints runs as shown and gives the next page.
    again = shlex.split(last.split("Next page: ", 1)[1].removesuffix(" (or --all)"))
    assert again[0] == "wa-groups"
    following = graph(*again[1:])
    assert following.returncode == 0
    assert [line.split()[0] for line in following.stdout.splitlines()[1:4]] == [g["id"] for g in second["groups"]]


def test_all_streams_every_page(graph: Shell) -> None:
    everything = json.loads(graph("--json", "groups", "list", "--all", "--page-size", "10").stdout)
    assert len(everything["groups"]) >= 43
    assert everything["after"] is None
    table = graph("groups", "list", "--all")
    assert table.stdout.splitlines()[-1] == f"{len(everything['groups'])} groups"


# --------------------------------------------------------------------------------------- destructive commands


def _victim(shell: Shell, index: int) -> str:
    groups = json.loads(shell("--json", "groups", "list", "--limit", "43").stdout)["groups"]
    return str(groups[index]["id"])


def test_destructive_commands_refuse_without_a_terminal(graph: Shell) -> None:
    group = _victim(graph, 40)
    for argv in (
        ["groups", "delete", group],
        ["invite-link", "reset", group],
        ["invite-link", "delete", group],
        ["join-requests", "approve", "--all-groups"],
    ):
        result = graph(*argv)
        assert result.returncode == 2, argv
        assert "pass --yes" in _error_line(result)
    assert graph("groups", "show", group).returncode == 0  # nothing was sent


def test_dry_run_sends_nothing(graph: Shell) -> None:
    group = _victim(graph, 41)
    link = graph("invite-link", "get", group).stdout
    result = graph("groups", "delete", group, "--dry-run")
    assert result.returncode == 0
    assert result.stdout == f"would send: DELETE /{group}\n"
    assert graph("--json", "invite-link", "reset", group, "--dry-run").stdout.count("POST") == 1
    assert graph("invite-link", "get", group).stdout == link
    plan = graph("--json", "join-requests", "approve", "--all-groups", "--dry-run")
    assert plan.returncode == 0
    planned = json.loads(plan.stdout)
    assert planned["items"] >= 100
    assert planned["requests"] == sum(-(-len(ids) // 8) for ids in planned["groups"].values())
    again = json.loads(graph("--json", "join-requests", "approve", "--all-groups", "--dry-run").stdout)
    assert again["items"] == planned["items"]  # nothing was approved
    assert graph("groups", "show", group).returncode == 0


def test_yes_goes_ahead(graph: Shell) -> None:
    group = _victim(graph, 42)
    result = graph("groups", "delete", group, "--yes")
    assert result.returncode == 0
    assert "Deletion of group" in result.stdout
    assert graph("groups", "show", group).returncode == 1


# -------------------------------------------------------------------------------------------- participants


def test_participants_are_checked_and_00_is_read_as_plus(graph: Shell) -> None:
    group = _victim(graph, 30)
    added = graph("participants", "add", group, "00 1 555 070 0004", "US.13491208655302741918")
    assert added.returncode == 0, added.stderr
    shown = json.loads(graph("--json", "groups", "show", group).stdout)
    assert {p["wa_id"] for p in shown["participants"]} >= {"15550700004"}
    for value, words in (("hello", "is not a participant"), ("0555 070 0004", "has no country code")):
        refused = graph("participants", "add", group, value)
        assert refused.returncode == 2
        line = _error_line(refused)
        assert repr(value) in line and words in line


def test_groups_picture(graph: Shell) -> None:
    assert graph("fake", "picture", "photo.jpg").returncode == 0
    result = graph("groups", "picture", graph.served.env["GROUP_ID"], "photo.jpg")
    assert result.returncode == 0, result.stderr
    assert "picture" in result.stdout and "accepted" in result.stdout
    Path(graph.cwd, "not.jpg").write_text("hello")
    refused = graph("groups", "picture", graph.served.env["GROUP_ID"], "not.jpg")
    assert refused.returncode == 2
    assert "JPEG" in _error_line(refused)


# ------------------------------------------------------------------------------------------- exit statuses


class _HtmlPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def html_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=DEADLINE)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_exit_statuses_follow_one_table(graph: Shell, html_server: str) -> None:
    refused = graph("groups", "show", "no-such-group")
    assert refused.returncode == 1
    assert "Group unknown" in _error_line(refused)
    unreachable = graph("groups", "list", WA_BASE_URL=f"http://127.0.0.1:{_closed_port()}")
    assert unreachable.returncode == 3
    assert "check --base-url or WA_BASE_URL" in _error_line(unreachable)
    html = graph("groups", "list", "--base-url", html_server)
    assert html.returncode == 3
    line = _error_line(html)
    assert "not JSON" in line and f"check --base-url or WA_BASE_URL (now {html_server})" in line
    for argv, words in (
        (["groups", "list", "--page-size", "5000"], "expected a page size 1..1024, got '5000'"),
        (["groups", "list", "--page-size", "0"], "expected a page size 1..1024, got '0'"),
        (["join-requests", "approve", "G", "--all", "J"], "give join request ids or --all, not both"),
        (["groups", "lisst"], "invalid choice: 'lisst'"),
    ):
        result = graph(*argv)
        assert result.returncode == 2, argv
        assert words in _error_line(result)
        assert result.stdout == ""
    Path(graph.cwd, "other.json").write_text(json.dumps({"action": "approve_join_requests", "group_id": "G"}))
    other = graph("join-requests", "reject", "G", "--all", "--resume", "other.json")
    assert other.returncode == 2
    assert "another job (approve join requests), not of reject join requests" in _error_line(other)


# ------------------------------------------------------------------------------------------------------ help


def test_help_shows_global_options_once(graph: Shell) -> None:
    top = graph("--help").stdout
    assert top.count("global options:") == 1
    assert re.search(r"--api-version VERSION\s+Graph API version \(\$WA_API_VERSION, default v23\.0\)", top)
    assert "  3    no answer from the server" in top
    listing = graph("groups", "list", "--help").stdout
    assert "--token-file PATH" not in listing
    assert "global options: --json, -v/-vv, --quiet, --token-file" in listing
    for argv in (["demo", "--help"], ["webhooks", "serve", "--help"], ["fake", "serve", "--help"]):
        text = graph(*argv).stdout
        assert "--base-url" not in text and "--token-file" not in text, argv
        assert "global options: --json, -v/-vv, --quiet (see" in text


def test_wuts_usage_lines_name_the_backend(wuts: Shell) -> None:
    assert wuts.served.env["WA_BACKEND"] == "wuts"
    leave = wuts("groups", "leave", "--help", WA_BACKEND="")
    assert leave.returncode == 2  # without WA_BACKEND, 'leave' is not a Graph command
    text = wuts("--backend", "wuts", "groups", "leave", "--help").stdout
    assert text.startswith("usage: wa-groups --backend wuts groups leave ")
    assert wuts("groups", "leave", "--help").stdout == text  # WA_BACKEND=wuts picks the backend


def test_wuts_show_prints_phone_numbers_and_leave_asks(wuts: Shell) -> None:
    group = wuts.served.env["GROUP_ID"]
    shown = wuts("groups", "show", group)
    assert shown.returncode == 0
    rows = [line.split() for line in shown.stdout.splitlines() if line.endswith(("member", "admin"))]
    assert rows and all(row[1].startswith("+") and "@" not in row[1] for row in rows)
    assert wuts("groups", "leave", group).returncode == 2
    planned = wuts("groups", "leave", group, "--dry-run")
    assert planned.stdout == f"would send: DELETE /groups/{group}/leave\n"
    assert wuts("groups", "show", group).returncode == 0


# ------------------------------------------------------------------------------------------------ verbosity


def test_vv_logs_each_request_without_the_token(graph: Shell) -> None:
    group = graph.served.env["GROUP_ID"]
    debug = graph("-vv", "invite-link", "get", group)
    assert debug.returncode == 0
    assert re.search(rf"GET /{group}/invite_link -> 200 in \d+\.\d+s \(attempt 1\)", debug.stderr)
    assert FAKE_TOKEN not in debug.stderr
    info = graph("-v", "invite-link", "get", group).stderr
    assert info.startswith("wa-groups: Graph API v23.0 at http://127.0.0.1:")  # -v: where the command goes
    assert "attempt 1" not in info  # the request log is for -vv
    assert graph("invite-link", "get", group).stderr == ""


def test_quiet_prints_only_errors(fresh: Shell) -> None:
    group = fresh.served.env["GROUP_ID"]
    quiet = fresh("--quiet", "join-requests", "approve", group, fresh.served.env["JOIN_REQUEST_ID"])
    assert quiet.returncode == 0
    assert quiet.stderr == ""
    assert "succeeded" in quiet.stdout


# ------------------------------------------------------------------------------------------------- progress


def test_progress_without_a_terminal(fresh: Shell) -> None:
    result = fresh("join-requests", "approve", "--all-groups", "--yes", "--concurrency", "2")
    assert result.returncode in (0, 1), result.stderr  # full groups refuse some requests
    lines = [line for line in result.stderr.splitlines() if line.startswith("Approving join requests:")]
    assert len(lines) >= 2
    assert all(re.search(r" \d+/30 groups, [\d,]+ join requests", line) for line in lines)
    assert not any("ETA ?" in line for line in lines)
    assert all("ETA " in line for line in lines[:-1] if not line.startswith("Approving join requests: 0%"))
    assert lines[-1].startswith("Approving join requests: 100% 30/30 groups") and " in " in lines[-1]


# ------------------------------------------------------------------------------------------------- completion


def test_completion(graph: Shell) -> None:
    script = (
        "import sys\n"
        "sys.modules['shtab'] = None  # as if the optional package were not installed\n"
        "from wa_groups.cli import main\n"
        "raise SystemExit(main(['completion', 'bash']))\n"
    )
    missing = subprocess.run(
        [sys.executable, "-c", script], env=_base_env(), capture_output=True, text=True, timeout=DEADLINE
    )
    assert missing.returncode == 2
    assert "needs the shtab package: python -m pip install 'wa-groups[cli]'" in _error_line(missing)
    pytest.importorskip("shtab")
    for shell in ("bash", "zsh", "fish"):
        result = graph("completion", shell)
        assert result.returncode == 0, result.stderr
        assert "wa-groups" in result.stdout and "join-requests" in result.stdout


# ---------------------------------------------------------------------------------------------------- a tty


def _on_a_terminal(
    shell: Shell, argv: list[str], answer: str | None = None, prompt: str = "[y/N] ", interrupt: bool = False
) -> tuple[int, str]:
    """Run the command with stdin, stdout and stderr on a pseudo-terminal; type ``answer`` at ``prompt``.

    With ``interrupt``, press Ctrl-C at the prompt instead (the signal is sent to the child: it has no
    controlling terminal to get it from).
    """
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "wa_groups", *argv],
        cwd=shell.cwd,
        env=shell.env(),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                if answer is not None and prompt.encode() in seen:
                    os.write(master, answer.encode() + b"\n")
                    answer = None
                if interrupt and prompt.encode() in seen:
                    child.send_signal(signal.SIGINT)
                    interrupt = False
            elif child.poll() is not None:
                break
        status = child.wait(timeout=DEADLINE)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
    return status, seen.decode("utf-8", "replace")


def test_a_terminal_gets_a_live_progress_bar(fresh: Shell) -> None:
    status, seen = _on_a_terminal(fresh, ["join-requests", "approve", "--all-groups", "--yes", "--concurrency", "2"])
    assert status in (0, 1), seen
    frames = [frame for frame in seen.split("\r") if frame.startswith("Approving join requests [")]
    assert len(frames) >= 3, seen
    assert re.search(r"\[#*-*\] +\d+% \d+/30 groups, ", frames[len(frames) // 2])
    assert any(" ETA " in frame for frame in frames)
    assert "100% 30/30 groups" in frames[-1]
    assert "Approving join requests:" not in seen  # no plain lines on a terminal


def test_a_terminal_is_asked_before_a_deletion(graph: Shell) -> None:
    group = _victim(graph, 35)
    status, seen = _on_a_terminal(graph, ["groups", "delete", group], answer="n")
    assert f"Delete group {group} and remove every participant? [y/N]" in seen
    assert status == 1
    assert "not confirmed: nothing was sent" in seen
    assert graph("groups", "show", group).returncode == 0
    status, seen = _on_a_terminal(graph, ["groups", "delete", group], answer="y")
    assert status == 0, seen
    assert "Deletion of group" in seen
    assert graph("groups", "show", group).returncode == 1


def test_ctrl_c_at_the_question_sends_nothing(graph: Shell) -> None:
    group = _victim(graph, 36)
    status, seen = _on_a_terminal(graph, ["invite-link", "reset", group], interrupt=True)
    assert "The current link stops working. [y/N]" in seen
    assert status == 130
    assert "wa-groups: interrupted" in seen
    assert graph("groups", "show", group).returncode == 0


def test_fake_serve_sends_signed_webhooks_to_webhooks_serve(tmp_path: Path) -> None:
    env = {**_base_env(), "WA_APP_SECRET": "app-secret-value", "WA_VERIFY_TOKEN": "verify-me"}
    receiver = subprocess.Popen(
        [sys.executable, "-m", "wa_groups", "webhooks", "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served: Served | None = None
    try:
        assert receiver.stderr is not None and receiver.stdout is not None
        url = receiver.stderr.readline().split()[3]
        assert url.startswith("http://127.0.0.1:")
        served = Served("fake", "serve", "--webhook-url", url, "--app-secret", "app-secret-value", cwd=tmp_path)
        shell = Shell(served, tmp_path)
        assert shell("groups", "create", "Webhook club").returncode == 0
        timer = threading.Timer(DEADLINE, receiver.kill)
        timer.start()
        try:
            event = json.loads(receiver.stdout.readline())
        finally:
            timer.cancel()
        assert event["event"] == "GroupCreated"
    finally:
        if served is not None:
            served.stop()
        receiver.send_signal(signal.SIGINT)
        receiver.communicate(timeout=DEADLINE)
