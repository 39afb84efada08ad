"""Sources of check modules for pytester runs of the plugin, built from one definition.

`check` writes one check (its phase and check markers, the function, its docstring and body);
`checks_module` joins checks into a module. `core_checks` and `make_checks` are the module most
plugin tests run: a preflight pair (PRE-A can be made to fail), an upgrade and a post check.
`run_for_record` runs a session against `dtr.example.com` and reads one check's record back.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest


def check(
    check_id: str,
    name: str,
    doc: str,
    body: str = "",
    *,
    phase: str = "preflight",
    args: str = "",
) -> str:
    """The source of one check: `@pytest.mark.<phase>`, `@pytest.mark.check(<id>)`, the function."""
    lines = [
        f"@pytest.mark.{phase}",
        f'@pytest.mark.check("{check_id}")',
        f"def {name}({args}):",
        textwrap.indent(f'"""{doc}"""', "    "),
    ]
    if body:
        lines.append(textwrap.indent(textwrap.dedent(body).strip("\n"), "    "))
    return "\n".join(lines) + "\n"


def checks_module(*checks: str, preamble: str = "") -> str:
    """A module of `checks` after `import pytest` and `preamble` (more imports, helpers)."""
    head = "import pytest\n" + (f"\n{textwrap.dedent(preamble).strip()}\n" if preamble else "")
    return "\n".join([head, *checks])


def core_checks(*, fail_a: bool = False) -> str:
    """POST-ONE, UPG-RUN, PRE-A (attaches evidence; fails with `fail_a`) and PRE-B."""
    return checks_module(
        check("POST-ONE", "test_post_one", "A post check.", phase="post"),
        check("UPG-RUN", "test_upgrade_runs", "The upgrade.", phase="upgrade"),
        check(
            "PRE-A",
            "test_pre_a",
            "Preflight A.",
            f"""
            evidence.attach("seen", {{"a": 1}})
            assert {not fail_a}, "A failed because the lab said so"
            """,
            args="evidence",
        ),
        check("PRE-B", "test_pre_b", "Preflight B."),
    )


def make_checks(pytester: pytest.Pytester, fail_a: bool = False) -> None:
    """Write the core checks as test_checks.py."""
    pytester.makepyfile(test_checks=core_checks(fail_a=fail_a))


def run_for_record(
    pytester: pytest.Pytester, check_id: str, *args: str
) -> tuple[pytest.RunResult, dict[str, Any], dict[str, Any]]:
    """Run the plugin against `dtr.example.com` with `args`; return the run, result.json and
    the record of `check_id` (exactly one)."""
    result = pytester.runpytest(
        "-p", "upgrade.plugin", "--report-dir", "out", "--target=dtr.example.com", *args
    )
    data = json.loads((pytester.path / "out" / "latest" / "result.json").read_text())
    (record,) = [c for c in data["checks"] if c["id"] == check_id]
    return result, data, record
