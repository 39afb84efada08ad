"""Every check the harness ships, read from the checks' source without collecting them.

pytest reports what `-k`, `-m` and `--deselect` remove (`pytest_deselected`), but not what a
path argument (`pytest checks/test_preflight_ucp.py`), `--ignore`, `--ignore-glob` or an ini
override (`-o python_functions=...`) leaves out: those checks are simply never collected. The
verdict must know them all the same, so the plugin compares what was collected with this
catalogue, read statically from `checks/test_*.py`: each `test_*` function's check ID (its
`@pytest.mark.check("ID")`), its phase (its own phase mark or the module's `pytestmark`) and
whether it needs `--to-version`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PHASE_MARKS = ("preflight", "upgrade", "post")
TARGET_VERSION_MARK = "needs_target_version"


@dataclass(frozen=True)
class KnownCheck:
    """One shipped check as its source declares it."""

    check_id: str
    phase: str
    nodeid: str
    needs_target_version: bool


def _mark_name(node: ast.expr) -> tuple[str, list[ast.expr]] | None:
    """`pytest.mark.NAME` or `pytest.mark.NAME(args)` -> (NAME, args)."""
    call_args: list[ast.expr] = []
    if isinstance(node, ast.Call):
        call_args = list(node.args)
        node = node.func
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
    ):
        return node.attr, call_args
    return None


def _module_phases(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        if not any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            continue
        values = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
        return [m[0] for v in values if (m := _mark_name(v)) and m[0] in PHASE_MARKS]
    return []


def known_checks(directory: Path, root: Path) -> list[KnownCheck]:
    """The checks declared in `directory`'s `test_*.py` files (node IDs relative to `root`)."""
    found = []
    for path in sorted(directory.glob("test_*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        except (OSError, SyntaxError, ValueError):
            continue  # pytest reports it as a collection error, which the verdict counts
        module_phases = _module_phases(tree)
        try:
            relative = path.relative_to(root).as_posix()
        except ValueError:
            relative = path.as_posix()
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            marks = [m for d in node.decorator_list if (m := _mark_name(d))]
            ids = [
                a.value
                for name, args in marks
                if name == "check"
                for a in args[:1]
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            phases = [name for name, _ in marks if name in PHASE_MARKS] or module_phases
            if not ids or len(phases) != 1:
                continue  # the plugin refuses such a check when it is collected
            found.append(
                KnownCheck(
                    check_id=ids[0],
                    phase=phases[0],
                    nodeid=f"{relative}::{node.name}",
                    needs_target_version=any(name == TARGET_VERSION_MARK for name, _ in marks),
                )
            )
    return found
