"""The simulated bootstrapper's command line and output: its flags per DTR version (urfave/cli
style, with environment fallbacks), the errors that end a command, and logrus' text lines."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TextIO

from dtrlab.catalogue import Release


@dataclass(frozen=True)
class Flag:
    """One CLI flag: its name, environment variable and whether it takes a value."""

    name: str
    env: str
    takes_value: bool


def flags_for(version: Release) -> dict[str, Flag]:
    """The `upgrade` flags of DTR `version` (dtr-facts 1.1)."""
    replica_env = "MSR_REPLICA_ID" if version.line >= (2, 9) else "DTR_REPLICA_ID"
    help_env = "MSR_EXTENDED_HELP" if version.line >= (2, 9) else "DTR_EXTENDED_HELP"
    flags = [
        Flag("debug", "DEBUG", False),
        Flag("existing-replica-id", replica_env, True),
        Flag("help-extended", help_env, False),
        Flag("ucp-ca", "UCP_CA", True),
        Flag("ucp-insecure-tls", "UCP_INSECURE_TLS", False),
        Flag("ucp-password", "UCP_PASSWORD", True),
        Flag("ucp-url", "UCP_URL", True),
        Flag("ucp-username", "UCP_USERNAME", True),
    ]
    if version.line == (2, 6):
        flags.append(Flag("no-image-check", "NO_IMAGE_CHECK", False))
    if version.line >= (2, 9):
        flags += [Flag("nocolor", "NOCOLOR", False), Flag("max-wait", "MAX_WAIT", True)]
    return {f.name: f for f in flags}


class UsageError(Exception):
    """Bad command line: printed as `Incorrect Usage` with exit status 1."""


class Fatal(Exception):
    """The upgrade cannot go on: printed as a FATA line after the ERRO line, exit status 1."""


class Interrupted(Exception):
    """SIGTERM or SIGINT arrived."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Log:
    """logrus' text formatter, flushed per line: `INFO[0003] message` (seconds since the start)
    on a terminal, `time="2026-12-01T10:00:00Z" level=info msg="message"` otherwise, which is
    what the real bootstrapper prints under `docker run -i` (fidelity-review.md 15)."""

    LEVELS: ClassVar[dict[str, str]] = {
        "DEBU": "debug",
        "INFO": "info",
        "WARN": "warning",
        "ERRO": "error",
        "FATA": "fatal",
    }

    def __init__(self, debug: bool, tty: bool | None = None, stream: TextIO | None = None) -> None:
        self.started = time.monotonic()
        self.debug_enabled = debug
        # `backup` logs on stderr: its stdout is the archive.
        self.stream = sys.stdout if stream is None else stream
        self.tty = self.stream.isatty() if tty is None else tty

    def _line(self, level: str, message: str) -> None:
        if self.tty:
            elapsed = int(time.monotonic() - self.started)
            line = f"{level}[{elapsed:04d}] {message}"
        else:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            line = f'time="{now}" level={self.LEVELS[level]} msg={json.dumps(message)}'
        self.stream.write(line + "\n")
        self.stream.flush()

    def info(self, message: str) -> None:
        """An INFO line."""
        self._line("INFO", message)

    def warn(self, message: str) -> None:
        """A WARN line."""
        self._line("WARN", message)

    def debug(self, message: str) -> None:
        """A DEBU line, only with --debug."""
        if self.debug_enabled:
            self._line("DEBU", message)

    def error(self, message: str) -> None:
        """An ERRO line."""
        self._line("ERRO", message)

    def fatal(self, message: str) -> None:
        """A FATA line."""
        self._line("FATA", message)


def parse_flags(
    args: Sequence[str], flags: dict[str, Flag], environ: dict[str, str]
) -> dict[str, Any]:
    """urfave/cli-style parsing: `--flag value`, `--flag=value`, bool flags, env fallbacks."""
    values: dict[str, Any] = {}
    items = list(args)
    while items:
        arg = items.pop(0)
        if not arg.startswith("-") or arg in ("-", "--"):
            raise UsageError(f"unexpected argument {arg!r}")
        name, eq, inline = arg.lstrip("-").partition("=")
        if name in ("help", "h"):
            values["help"] = True
            continue
        flag = flags.get(name)
        if flag is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        if flag.takes_value:
            if eq:
                values[name] = inline
            elif items:
                values[name] = items.pop(0)
            else:
                raise UsageError(f"flag needs an argument: -{name}")
        else:
            values[name] = inline.lower() not in ("false", "0") if eq else True
    for flag in flags.values():
        if flag.name not in values and environ.get(flag.env):
            raw = environ[flag.env]
            values[flag.name] = raw if flag.takes_value else raw.lower() not in ("false", "0", "")
    return values
