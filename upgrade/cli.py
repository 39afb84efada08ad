"""The `dtr-upgrade` command line.

    dtr-upgrade plan --from 2.4.3 --to 2.6.4 [--catalog FILE] [--json]
    dtr-upgrade lab [LAB ARGUMENTS...]
    dtr-upgrade verify-bundle DIR [--allowed-signers FILE | --public-key FILE]
    dtr-upgrade history DIR... [-o history.html]

Every subcommand is one `Command` in `COMMANDS`; adding a subcommand means adding an entry
there. Usage errors print one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO, cast

from upgrade.rules.catalog import Catalog, CatalogError
from upgrade.rules.catalog_file import load_catalog
from upgrade.rules.planner import Plan, plan
from upgrade.rules.versions import Version, VersionError, target_problem

__all__ = ["COMMANDS", "Command", "main"]

PROG = "dtr-upgrade"
EXIT_ALLOWED = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, as every harness error is."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


@dataclass(frozen=True, slots=True)
class Command:
    """One subcommand: its name, its one-line help, its arguments and what it runs.

    A `pass_through` command gets every later argument unparsed in `args.rest` (the lab has
    its own parser).
    """

    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    pass_through: bool = False


def main(argv: list[str] | None = None) -> int:
    """Run `dtr-upgrade` with `argv` (default: the process arguments); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    by_name = {command.name: command for command in COMMANDS}
    if argv and argv[0] in by_name and by_name[argv[0]].pass_through:
        command = by_name[argv[0]]
        return command.run(argparse.Namespace(command=command.name, rest=argv[1:]))
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits for --help and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return by_name[args.command].run(args)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Plan and verify Docker Trusted Registry (DTR / MSR 2.x) upgrades.",
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        subparser = subcommands.add_parser(
            command.name,
            help=command.help,
            description=command.help,
            add_help=not command.pass_through,
        )
        if command.pass_through:
            subparser.add_argument("rest", nargs=argparse.REMAINDER, metavar="ARGUMENTS")
        if command.add_arguments is not None:
            command.add_arguments(subparser)
    return parser


def _fail(command: str, message: str) -> int:
    """Print a usage error as one line on stderr and return the usage exit status."""
    print(f"{PROG} {command}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE


# plan


def _plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="current", required=True, metavar="VERSION", help="the DTR version now"
    )
    parser.add_argument(
        "--to", dest="target", required=True, metavar="VERSION", help="the DTR version wanted"
    )
    parser.add_argument(
        "--catalog",
        type=Path,
        metavar="FILE",
        help="a TOML release catalogue that extends or overrides the shipped one",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of readable text"
    )


def _run_plan(args: argparse.Namespace) -> int:
    versions: dict[str, Version] = {}
    for option, value in (("--from", args.current), ("--to", args.target)):
        try:
            versions[option] = Version.parse(value)
        except VersionError as exc:
            return _fail("plan", f"{option}: {exc}")
    problem = target_problem("--to", versions["--to"])
    if problem is not None:
        return _fail("plan", problem)
    try:
        catalog = load_catalog(args.catalog)
    except CatalogError as exc:
        return _fail("plan", str(exc))
    result = plan(versions["--from"], versions["--to"], catalog)
    if args.json:
        json.dump(plan_document(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        write_plan(result, catalog, sys.stdout, user_catalog=args.catalog)
    return EXIT_ALLOWED if result.evaluation.allowed else EXIT_REFUSED


def plan_document(result: Plan) -> dict[str, object]:
    """The plan as the JSON object `dtr-upgrade plan --json` prints."""
    return {
        "from": str(result.current),
        "to": str(result.target),
        "allowed": result.evaluation.allowed,
        "kind": result.evaluation.kind,
        "reason": result.evaluation.reason,
        "warnings": list(result.warnings),
        "path": [str(version) for version in result.path],
        "migrations": [
            {"from": migration.from_line, "to": migration.to_line, "job": migration.job}
            for migration in result.migrations
        ],
        "image": result.image,
        "known_target": result.known_target,
    }


def write_plan(
    result: Plan, catalog: Catalog, out: TextIO, *, user_catalog: Path | None = None
) -> None:
    """Write the plan as a few lines an operator can paste into a change request."""
    evaluation = result.evaluation
    verdict = "ALLOWED" if evaluation.allowed else "NOT ALLOWED"
    if not result.known_target:
        out.write(
            f"DTR upgrade {result.current} -> {result.target}: UNKNOWN TARGET, not planned "
            "(not a release in the catalogue)\n"
        )
    else:
        out.write(
            f"DTR upgrade {result.current} -> {result.target}: {verdict} as a direct upgrade "
            f"({evaluation.kind})\n"
        )
    out.write(f"Reason: {evaluation.reason}\n")
    if result.path:
        count = len(result.hops)
        runs = "1 upgrade" if count == 1 else f"{count} upgrades, in this order"
        out.write(f"Recommended path ({runs}): {' -> '.join(map(str, result.path))}\n")
        for number, (step_from, step_to) in enumerate(result.hops, start=1):
            rule = catalog.bootstrapper_rule(step_to)
            image = f"{rule.repository}:{step_to}" if rule is not None else "image unknown"
            # Each hop's UCP precondition (upgrade.rules.hops): the harness never upgrades UCP.
            needs = catalog.ucp_requirement(step_to)
            image += f" (needs {needs})" if needs else ""
            jobs = "".join(
                f"; then job {migration.job}"
                + (f" (up to {migration.attempts} attempts)" if migration.attempts else "")
                for migration in catalog.migrations(step_from, step_to)
            )
            out.write(f"  {number}. {step_from} -> {step_to} with {image}{jobs}\n")
    else:
        out.write("Recommended path: none\n")
    if result.image:
        out.write(f"Bootstrapper image for {result.target}: {result.image}\n")
    if user_catalog is not None:
        out.write(f"Catalogue: the shipped one, extended by {user_catalog}\n")
    if result.warnings:
        out.write("Warnings:\n")
        for warning in result.warnings:
            out.write(f"  - {warning}\n")


# lab


def _run_lab(args: argparse.Namespace) -> int:
    try:
        module = importlib.import_module("dtrlab.cli")
    except ModuleNotFoundError as exc:
        if exc.name not in ("dtrlab", "dtrlab.cli"):
            raise
        return _fail("lab", "the lab is not available in this installation (no module dtrlab.cli)")
    entry = getattr(module, "main", None)
    if not callable(entry):
        return _fail("lab", "the lab module dtrlab.cli has no main(argv) function")
    run_lab = cast(Callable[[list[str]], int], entry)
    return int(run_lab(list(cast(Sequence[str], args.rest))))


# verify-bundle


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, metavar="DIR", help="an evidence bundle folder")
    signer = parser.add_mutually_exclusive_group()
    signer.add_argument(
        "--allowed-signers",
        type=Path,
        metavar="FILE",
        help="OpenSSH allowed-signers file: SHA256SUMS.sig must be by one of them",
    )
    signer.add_argument(
        "--public-key",
        type=Path,
        metavar="FILE",
        help="the signer's SSH public key (.pub): SHA256SUMS.sig must be by this key",
    )


def _run_verify_bundle(args: argparse.Namespace) -> int:
    from upgrade.evidence import integrity

    bundle: Path = args.bundle
    if not bundle.is_dir():
        return _fail("verify-bundle", f"{bundle}: no such bundle directory")
    try:
        found = integrity.verify(
            bundle, allowed_signers=args.allowed_signers, public_key=args.public_key
        )
    except integrity.SigningError as exc:
        return _fail("verify-bundle", str(exc))
    except integrity.IntegrityError as exc:
        print(f"{PROG} verify-bundle: FAILED: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    for line in found.lines():
        print(line)
    return EXIT_ALLOWED if found.ok else EXIT_REFUSED


# history


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folders",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="folders to search for evidence bundles (report directories, unpacked CI artifacts)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("history.html"),
        metavar="FILE",
        help="where to write the page (default: history.html)",
    )


def _run_history(args: argparse.Namespace) -> int:
    from upgrade.evidence import history, history_page

    try:
        found = history_page.write_history(args.folders, args.output)
    except history.HistoryError as exc:
        return _fail("history", str(exc))
    try:
        for line in history_page.summary_lines(found, args.output):
            print(line, flush=True)
    except BrokenPipeError:
        # `| head`: the page is written; the exit status still says whether all verified.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_REFUSED if found.unverified else EXIT_ALLOWED


COMMANDS: tuple[Command, ...] = (
    Command(
        name="plan",
        help="say whether DTR may upgrade from one version to another, and the path to take",
        run=_run_plan,
        add_arguments=_plan_arguments,
    ),
    Command(
        name="lab",
        help="run the built-in lab (a simulated DTR + UCP cluster); arguments go to the lab",
        run=_run_lab,
        pass_through=True,
    ),
    Command(
        name="verify-bundle",
        help="check an evidence bundle against its SHA256SUMS (and signature): OK, or each "
        "file changed, added or removed",
        run=_run_verify_bundle,
        add_arguments=_verify_arguments,
    ),
    Command(
        name="history",
        help="one HTML page of every evidence bundle under the folders: per target and night "
        "the verdict, outages, phase times and failed checks; bundles that do not verify "
        "are marked (exit 1)",
        run=_run_history,
        add_arguments=_history_arguments,
    ),
)
"""Every `dtr-upgrade` subcommand, in the order `--help` lists them."""


if __name__ == "__main__":
    sys.exit(main())
