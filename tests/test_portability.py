"""Windows is the first user's OS: no Unix-only call on any path that runs there.

The test walks every module's AST and fails on a Unix-only call, import or path
(`os.fork`, `os.getuid`, `fcntl`, `resource`, `signal.SIGKILL` / `SIGHUP`, `/proc`, ...)
unless it is *guarded*, which means one of:

1. inside an `if` branch that cannot run on Windows, judged by evaluating the test with
   `sys.platform == "win32"` and `os.name == "nt"` (e.g. the body of
   `if sys.platform != "win32":`, the `else` of `if sys.platform == "win32":`, the body
   of `if sys.platform.startswith("linux"):`); a test that is a feature check
   (`hasattr(os, "fork")`, `getattr(...)`) guards both of its branches;
2. after an early exit in the same block: `if <test true on Windows>: return/raise/continue`;
3. inside `try:` whose handlers catch ImportError / ModuleNotFoundError / AttributeError;
4. listed in ALLOWED below, with the reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "provider_fallback"

UNIX_MODULES = {"fcntl", "resource", "pwd", "grp", "termios", "tty", "pty", "posix",
                "syslog", "crypt"}
UNIX_ATTRS = {
    "os": {"fork", "forkpty", "getuid", "geteuid", "getgid", "getegid", "setsid", "setpgid",
           "getpgid", "killpg", "wait3", "wait4", "setuid", "setgid", "getgroups", "sync",
           "mkfifo", "openpty", "nice", "sysconf", "uname", "getloadavg"},
    "signal": {"SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGCHLD", "SIGALRM",
               "SIGPIPE", "SIGSTOP", "SIGCONT", "alarm", "setitimer", "pause", "siginterrupt"},
}
UNIX_PATHS = ("/proc", "/dev/shm", "/sys/", "/etc/")

# (file relative to the package, reason) for what the rules above cannot see
ALLOWED: dict[str, str] = {}

_ON_WINDOWS = {"sys.platform": "win32", "os.name": "nt"}
_UNKNOWN = object()


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _on_windows(test: ast.AST) -> object:
    """The test's value on Windows: True, False or _UNKNOWN (a feature check)."""
    if isinstance(test, ast.BoolOp):
        values = [_on_windows(v) for v in test.values]
        if isinstance(test.op, ast.And):
            if False in values:
                return False
            return True if all(v is True for v in values) else _UNKNOWN
        if True in values:
            return True
        return False if all(v is False for v in values) else _UNKNOWN
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _on_windows(test.operand)
        return _UNKNOWN if inner is _UNKNOWN else not inner
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right = _dotted(test.left), test.comparators[0]
        if left in _ON_WINDOWS:
            value = _ON_WINDOWS[left]
            try:
                other = ast.literal_eval(right)
            except ValueError:
                return _UNKNOWN
            op = test.ops[0]
            if isinstance(op, ast.Eq):
                return value == other
            if isinstance(op, ast.NotEq):
                return value != other
            if isinstance(op, ast.In):
                return value in other
            if isinstance(op, ast.NotIn):
                return value not in other
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) \
            and test.func.attr == "startswith" and _dotted(test.func.value) in _ON_WINDOWS:
        try:
            prefix = ast.literal_eval(test.args[0])
        except (ValueError, IndexError):
            return _UNKNOWN
        return _ON_WINDOWS[_dotted(test.func.value)].startswith(prefix)
    return _UNKNOWN


def _exits(body: list[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], ast.Return | ast.Raise | ast.Continue)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = []
    if isinstance(handler.type, ast.Tuple):
        names = [_dotted(e) for e in handler.type.elts]
    elif handler.type is not None:
        names = [_dotted(handler.type)]
    return bool({"ImportError", "ModuleNotFoundError", "AttributeError"} & set(names))


class _Finder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self._guarded = 0

    def _visit_block(self, body: list[ast.stmt]) -> None:
        guarded_from = len(body)
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.If) and _on_windows(stmt.test) is True and _exits(stmt.body):
                guarded_from = i + 1
                break
        for stmt in body[:guarded_from]:
            self.visit(stmt)
        self._guarded += 1
        for stmt in body[guarded_from:]:
            self.visit(stmt)
        self._guarded -= 1

    def generic_visit(self, node: ast.AST) -> None:
        for field, value in ast.iter_fields(node):
            if field in ("body", "orelse", "finalbody") and isinstance(value, list) \
                    and not isinstance(node, ast.If | ast.Try):
                self._visit_block(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)

    def visit_If(self, node: ast.If) -> None:  # noqa: N802 - ast.NodeVisitor API
        self.visit(node.test)
        on_windows = _on_windows(node.test)
        for branch, runs in ((node.body, on_windows is not False),
                             (node.orelse, on_windows is not True)):
            guard = not runs or on_windows is _UNKNOWN
            self._guarded += guard
            self._visit_block(branch)
            self._guarded -= guard

    def visit_Try(self, node: ast.Try) -> None:  # noqa: N802
        guard = any(_catches_import_error(h) for h in node.handlers)
        self._guarded += guard
        self._visit_block(node.body)
        self._guarded -= guard
        for handler in node.handlers:
            self._visit_block(handler.body)
        self._visit_block(node.orelse)
        self._visit_block(node.finalbody)

    def _flag(self, node: ast.AST, what: str) -> None:
        if not self._guarded:
            self.found.append((getattr(node, "lineno", 0), what))

    def visit_Import(self, node: ast.Import) -> None:  # noqa: N802
        for alias in node.names:
            if alias.name.split(".")[0] in UNIX_MODULES:
                self._flag(node, f"import {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802
        if node.level == 0 and (node.module or "").split(".")[0] in UNIX_MODULES:
            self._flag(node, f"from {node.module} import ...")
        for alias in node.names:
            if node.level == 0 and alias.name in UNIX_ATTRS.get(node.module or "", ()):
                self._flag(node, f"from {node.module} import {alias.name}")

    def visit_Attribute(self, node: ast.Attribute) -> None:  # noqa: N802
        base = _dotted(node.value)
        if base in UNIX_ATTRS and node.attr in UNIX_ATTRS[base]:
            self._flag(node, f"{base}.{node.attr}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:  # noqa: N802
        if isinstance(node.value, str) and node.value.startswith(UNIX_PATHS):
            self._flag(node, repr(node.value))


def unix_only(source: str) -> list[tuple[int, str]]:
    finder = _Finder()
    tree = ast.parse(source)
    finder._visit_block(tree.body)
    return finder.found


def _modules() -> Iterator[Path]:
    yield from sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_unguarded_unix_only_call(path: Path) -> None:
    rel = path.relative_to(PACKAGE).as_posix()
    if rel in ALLOWED:
        return
    found = unix_only(path.read_text(encoding="utf-8"))
    assert not found, f"{rel}: Unix-only, unguarded: " + ", ".join(
        f"line {line}: {what}" for line, what in found)


@pytest.mark.parametrize(("source", "flagged"), [
    ("import os\nos.fork()", ["os.fork"]),
    ("import fcntl", ["import fcntl"]),
    ("import signal\nsignal.signal(signal.SIGHUP, h)", ["signal.SIGHUP"]),
    ("open('/proc/net/tcp')", ["'/proc/net/tcp'"]),
    ("import os, sys\nif sys.platform == 'win32':\n    os.getuid()", ["os.getuid"]),
    ("import os, sys\nif sys.platform != 'win32':\n    os.getuid()", []),
    ("import os, sys\nif sys.platform == 'win32':\n    pass\nelse:\n    os.kill(1, 0); os.getuid()",
     []),
    ("import os, sys\nif sys.platform.startswith('linux'):\n    open('/proc/x')", []),
    ("import os, sys\nif os.name == 'nt':\n    x = 1\nelse:\n    os.killpg(1, 9)", []),
    ("import os\nif hasattr(os, 'fork'):\n    os.fork()", []),
    ("try:\n    import fcntl\nexcept ImportError:\n    fcntl = None", []),
    ("import sys\ndef f():\n    if not sys.platform.startswith('linux'):\n        return None\n"
     "    return open('/proc/x')", []),
    ("import sys\ndef f():\n    if sys.platform.startswith('linux'):\n        return None\n"
     "    return open('/proc/x')", ["'/proc/x'"]),
    ("import signal\nsignal.SIGTERM; signal.SIGINT", []),
])
def test_the_rules(source: str, flagged: list[str]) -> None:
    assert [what for _, what in unix_only(source)] == flagged
