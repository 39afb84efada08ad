"""The layout of `upgrade/`: no import circle, only the plugin imports pytest, no module over the
line budget, every package says what it owns, and every module imports on its own in a fresh
interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "upgrade"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """Every `upgrade.*` module `path` imports, at any level (TYPE_CHECKING and function-local
    imports included: a circle hidden there is still a circle)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("upgrade"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("upgrade"):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return {m for m in found if m in MODULES and m != "upgrade"}


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    graph = {name: imports_of(path) for name, path in MODULES.items()}

    def reaches(start: str, goal: str) -> list[str] | None:
        stack, seen = [(start, [start])], {start}
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                # A package's __init__ that imports its own submodules is not a circle.
                if nxt == goal:
                    return [*path, nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
        return None

    circles = []
    for name, deps in graph.items():
        for dep in deps:
            if dep.startswith(name + ".") or name.startswith(dep + "."):
                continue  # a package and its own submodules
            back = reaches(dep, name)
            if back is not None:
                circles.append(" -> ".join([name, *back]))
    assert not circles, "import circles:\n" + "\n".join(sorted(set(circles)))


def test_only_the_plugin_imports_pytest() -> None:
    importers = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "pytest" or n.startswith(("pytest.", "_pytest", "pytest_")) for n in names):
                importers.append(name)
    outside = sorted({n for n in importers if not n.startswith("upgrade.plugin")})
    assert not outside, f"modules outside upgrade.plugin import pytest: {outside}"


# A module over this holds more than one concept: split it by what it owns.
MAX_LINES = 450


def test_no_module_is_over_the_line_budget() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    over = {name: lines for name, lines in sorted(sizes.items()) if lines > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines, split them by concept: {over}"


def test_every_package_says_what_it_owns() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.relative_to(ROOT)} has no docstring saying what it owns"
        assert len(doc) > 40, f"{init.relative_to(ROOT)}: a docstring of one word says nothing"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_alone_in_a_fresh_interpreter(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
