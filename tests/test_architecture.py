"""The house rules that import-linter cannot see: pure modules open no file and read no environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "wa_groups"

#: Modules below the I/O layer (docs/architecture.md): they take and return values, nothing else.
PURE = sorted(
    [
        *PACKAGE.glob("_graph/*.py"),
        *(
            PACKAGE / "_core" / name
            for name in (
                "request.py",
                "coerce.py",
                "wire.py",
                "convert.py",
                "plain.py",
                "secret.py",
                "retry.py",
                "gate.py",
            )
        ),
        *(PACKAGE / "wuts" / name for name in ("_protocol.py", "_decode.py", "ids.py", "errors.py", "models.py")),
        PACKAGE / "messages.py",
        PACKAGE / "models.py",
        PACKAGE / "errors.py",
    ]
)

#: Calls and attributes that reach the file system or the process environment.
FORBIDDEN_CALLS = frozenset({"open"})
FORBIDDEN_ATTRIBUTES = frozenset(
    {"read_bytes", "read_text", "write_bytes", "write_text", "getsize", "environ", "getenv", "listdir", "scandir"}
)


def offences(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            found.append(f"{path.name}:{node.lineno}: {node.func.id}()")
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    return found


def test_every_listed_pure_module_exists() -> None:
    missing = [str(path) for path in PURE if not path.is_file()]
    assert not missing, missing


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_touch_no_file_and_no_environment(path: Path) -> None:
    assert offences(path) == []


def test_the_check_catches_a_file_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f(p):\n    return open(p).read(), os.environ.get('X')\n", encoding="utf-8")
    assert offences(sample) == ["sample.py:4: open()", "sample.py:4: .environ"]
