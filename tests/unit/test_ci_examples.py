"""The CI examples (examples/ci/) parse, have the shape a nightly fleet job needs (a matrix of
targets, a schedule, the bundles and junit.xml kept), pass secrets only by environment, and
run only harness commands that exist: every option given to pytest is one of the harness's
(as `pytest --help` lists them) and every `dtr-upgrade` subcommand and option is real."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "ci"
GITLAB = EXAMPLES / "gitlab-ci.yml"
GITHUB = EXAMPLES / "github-actions.yml"
# Where a session with --report-dir=reports leaves its junit.xml (README "Evidence bundle");
# tests/engine/test_image.py checks that the bundle under latest/ holds it.
JUNIT = "reports/latest/junit.xml"
BUNDLES = "reports/"
IMAGE_TOKEN = "$HARNESS_IMAGE"
SECRETS = ("DTR_PASSWORD", "DTR_TOKEN", "UCP_PASSWORD")
HELP_TIMEOUT_S = 120
SHELL_OPERATORS = {"||", "&&", ";", "|"}
HARNESS_SECTION = "DTR upgrade verification:"


@dataclass(frozen=True)
class Command:
    """One harness command of an example: the program (pytest or dtr-upgrade), its arguments
    and the shell line it came from."""

    program: str
    args: tuple[str, ...]
    line: str


def _help(argv: list[str]) -> str:
    proc = subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HELP_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


@cache
def pytest_options() -> tuple[frozenset[str], frozenset[str]]:
    """(the harness's long options, every option pytest knows) as `pytest --help` lists them."""
    text = _help([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"])
    every: set[str] = set()
    harness: set[str] = set()
    section = ""
    for line in text.splitlines():
        if line and not line[0].isspace():
            section = line.strip()
        match = re.match(r"^  (-[-\w]+)(?:, (--[-\w]+))?", line)
        if match is None:
            continue
        names = {name for name in match.groups() if name}
        every |= names
        if section == HARNESS_SECTION:
            harness |= names
    assert harness, f"no {HARNESS_SECTION!r} section in pytest --help"
    return frozenset(harness), frozenset(every)


@cache
def cli_help(subcommand: str | None = None) -> str:
    """`dtr-upgrade [SUBCOMMAND] --help`; fails the test when the subcommand does not exist."""
    program = str(Path(sys.executable).with_name("dtr-upgrade"))
    return _help([program, *([subcommand] if subcommand else []), "--help"])


def load(path: Path) -> dict[Any, Any]:
    """The example's YAML document."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path.name} is not a YAML mapping"
    return document


def shell_lines(script: str) -> list[str]:
    """The shell lines of a script, backslash continuations joined."""
    return [line.strip() for line in script.replace("\\\n", " ").splitlines() if line.strip()]


def harness_commands(scripts: list[str]) -> list[Command]:
    """Every pytest and dtr-upgrade command in the scripts, also when run through the image."""
    found = []
    for script in scripts:
        for line in shell_lines(script):
            tokens = shlex.split(line, comments=True)
            while tokens:
                cut = next((i for i, t in enumerate(tokens) if t in SHELL_OPERATORS), len(tokens))
                command, tokens = tokens[:cut], tokens[cut + 1 :]
                found.extend(_classify(command, line))
    return found


def _classify(tokens: list[str], line: str) -> list[Command]:
    if not tokens:
        return []
    if tokens[:2] == ["docker", "run"]:
        assert IMAGE_TOKEN in tokens, f"docker run without {IMAGE_TOKEN}: {line}"
        at = tokens.index(IMAGE_TOKEN)
        entrypoint = _value_of(tokens[:at], "--entrypoint")
        program = "dtr-upgrade" if entrypoint == "dtr-upgrade" else "pytest"
        assert entrypoint in (None, "dtr-upgrade"), f"unexpected entrypoint: {line}"
        return [Command(program, tuple(tokens[at + 1 :]), line)]
    if Path(tokens[0]).name == "dtr-upgrade":
        return [Command("dtr-upgrade", tuple(tokens[1:]), line)]
    for i, token in enumerate(tokens):
        if Path(token).name == "pytest" and (i == 0 or tokens[i - 1] == "-m"):
            return [Command("pytest", tuple(tokens[i + 1 :]), line)]
    return []


def _value_of(tokens: list[str], option: str) -> str | None:
    for i, token in enumerate(tokens):
        if token == option and i + 1 < len(tokens):
            return tokens[i + 1]
        if token.startswith(option + "="):
            return token.partition("=")[2]
    return None


def option_names(args: tuple[str, ...]) -> list[str]:
    """The options among `args` (`--name=value` gives `--name`)."""
    return [a.partition("=")[0] for a in args if a.startswith("-")]


def gitlab_jobs(document: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    """The jobs of a GitLab CI document (top-level mappings with a script)."""
    return {k: v for k, v in document.items() if isinstance(v, dict) and "script" in v}


def gitlab_scripts(document: dict[Any, Any]) -> list[str]:
    """Every script line of every job, before_script and after_script included."""
    scripts: list[str] = []
    for job in gitlab_jobs(document).values():
        for key in ("before_script", "script", "after_script"):
            scripts += job.get(key, [])
    return scripts


def github_steps(document: dict[Any, Any]) -> list[dict[str, Any]]:
    """Every step of every job of a GitHub Actions workflow."""
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def github_scripts(document: dict[Any, Any]) -> list[str]:
    """Every `run:` script of the workflow."""
    return [step["run"] for step in github_steps(document) if "run" in step]


def all_commands() -> list[tuple[str, Command]]:
    """(example file name, command) for each harness command of both examples."""
    commands = [(GITLAB.name, c) for c in harness_commands(gitlab_scripts(load(GITLAB)))]
    commands += [(GITHUB.name, c) for c in harness_commands(github_scripts(load(GITHUB)))]
    return commands


def command_params() -> list[Any]:
    """The commands as parameters with readable ids (`github-actions.yml:pytest:1`)."""
    return [
        pytest.param(name, command, id=f"{name}:{command.program}:{i}")
        for i, (name, command) in enumerate(all_commands())
    ]


def test_both_examples_run_the_harness() -> None:
    runs = {(name, c.program) for name, c in all_commands()}
    assert (GITLAB.name, "pytest") in runs
    assert (GITHUB.name, "pytest") in runs


def unknown_options(command: Command) -> list[str]:
    """What in `command` the harness does not have: options, or a dtr-upgrade subcommand."""
    if command.program == "pytest":
        harness, every = pytest_options()
        return [
            name
            for name in option_names(command.args)
            if name not in (harness if name.startswith("--") else every)
        ]
    subcommand, *rest = command.args
    subcommands = re.findall(r"^    ([a-z][-a-z]*)", cli_help(), flags=re.MULTILINE)
    if subcommand not in subcommands:
        return [subcommand]
    text = cli_help(subcommand)
    return [name for name in option_names(tuple(rest)) if name not in text]


@pytest.mark.parametrize(("example", "command"), command_params())
def test_every_option_passed_to_the_harness_exists(example: str, command: Command) -> None:
    assert unknown_options(command) == [], f"{example}: not the harness's: {command.line}"


def test_the_lint_catches_what_the_harness_does_not_have() -> None:
    (run,) = harness_commands(["python3 -m pytest -p no:cacheprovider --target=x --no-such=1"])
    assert unknown_options(run) == ["--no-such"]
    (verify,) = harness_commands(['dtr-upgrade verify-bundle --allowed-signers=f --nope "$D"'])
    assert unknown_options(verify) == ["--nope"]
    (other,) = harness_commands(["dtr-upgrade no-such-subcommand"])
    assert unknown_options(other) == ["no-such-subcommand"]


def test_gitlab_pipeline_is_a_scheduled_matrix_that_keeps_the_bundles() -> None:
    document = load(GITLAB)
    (job,) = gitlab_jobs(document).values()
    matrix = job["parallel"]["matrix"]
    assert len(matrix) >= 2
    assert all(entry.get("DTR_TARGET") for entry in matrix)
    rules = [rule.get("if", "") for rule in job["rules"]]
    assert '$CI_PIPELINE_SOURCE == "schedule"' in rules
    assert job["image"]["name"] == IMAGE_TOKEN
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert BUNDLES in artifacts["paths"]
    assert artifacts["reports"]["junit"] == JUNIT
    (run,) = [c for c in harness_commands(job["script"]) if c.program == "pytest"]
    report_dir = _value_of(list(run.args), "--report-dir")
    assert report_dir == "$CI_PROJECT_DIR/" + BUNDLES.rstrip("/")


def test_github_workflow_is_a_scheduled_matrix_that_keeps_the_bundles() -> None:
    document = load(GITHUB)
    # YAML 1.1 reads the key `on` as true.
    triggers = document.get("on", document.get(True))
    assert triggers["schedule"][0]["cron"]
    assert "workflow_dispatch" in triggers
    (job,) = document["jobs"].values()
    include = job["strategy"]["matrix"]["include"]
    assert len(include) >= 2
    assert all(entry.get("target") for entry in include)
    steps = github_steps(document)
    (upload,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert upload["if"] == "always()"
    assert BUNDLES in upload["with"]["path"].split()
    (junit,) = [s for s in steps if "junit" in str(s.get("uses", ""))]
    assert junit["if"] == "always()"
    assert junit["with"]["report_paths"] == JUNIT
    (run,) = [c for c in harness_commands(github_scripts(document)) if c.program == "pytest"]
    # The image writes its bundles to /reports (DTR_UPGRADE_REPORT_DIR).
    assert f'-v "$PWD/{BUNDLES.rstrip("/")}:/reports"' in run.line


@pytest.mark.parametrize("example", [GITLAB, GITHUB], ids=lambda p: p.name)
def test_secrets_reach_the_harness_only_by_environment(example: Path) -> None:
    document = load(example)
    scripts = gitlab_scripts(document) if example == GITLAB else github_scripts(document)
    for script in scripts:
        for line in shell_lines(script):
            assert "secrets." not in line, f"{example.name}: a secret in a script: {line}"
            for name in SECRETS:
                assert not re.search(rf"\$\{{?{name}\b", line), f"{name} expanded: {line}"
                assert f"-e {name}=" not in line, f"{name} on docker's command line: {line}"
    if example == GITHUB:
        for step in github_steps(document):
            for name, value in step.get("env", {}).items():
                if name in SECRETS:
                    assert value == f"${{{{ secrets.{name} }}}}"
