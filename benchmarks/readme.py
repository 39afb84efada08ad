"""Writing a benchmark's figures into its own section of benchmarks/README.md: the
`--update-readme` flag every benchmark takes and `publish`, which prints the section and, when
asked, writes it."""

from __future__ import annotations

import argparse
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def replace_section(heading: str, section: str, readme: Path = README) -> None:
    """Replace the section that starts with the line `heading` (or append it), keep the rest."""
    text = readme.read_text() if readme.exists() else "# Benchmarks\n\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        readme.write_text(text.rstrip("\n") + "\n\n" + section)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    readme.write_text("".join(lines[:start]) + section + ("\n" + tail if tail else ""))


def add_update_readme(parser: argparse.ArgumentParser) -> None:
    """Give a benchmark's parser the `--update-readme` flag `publish` reads."""
    parser.add_argument("--update-readme", action="store_true", help="rewrite the README section")


def publish(heading: str, section: str, *, update: bool, readme: Path = README) -> None:
    """Print a benchmark's section; with `update`, write it into the README as `heading`."""
    print(section)
    if update:
        replace_section(heading, section, readme)
        print(f"wrote the {heading!r} section of {readme}")
