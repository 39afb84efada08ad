"""Who holds the upgrade lock of a DTR, and which names one DTR goes by: the pure part of the lock.

`Holder` is the session written into a lock file (pid, host, user, start time, command line,
bundle) and read back tolerantly; `LockHeld` names it to the session that is refused.
`normalise_target` and `addresses` make one DTR one lock whatever it is called: case, default
port, trailing slash, and each address its host name resolves to. The flock itself is
`upgrade.procedure.lock`.
"""

from __future__ import annotations

import getpass
import os
import shlex
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from upgrade.errors import HarnessError

__all__ = ["Holder", "LockError", "LockHeld", "addresses", "normalise_target"]

_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


class LockError(HarnessError):
    """The lock directory or file cannot be used safely; the message names the path."""


@dataclass(frozen=True)
class Holder:
    """The session that holds (or wants) the upgrade lock of a DTR."""

    target: str
    pid: int
    host: str
    user: str
    started_at: datetime
    command: tuple[str, ...]
    bundle: str | None = None

    @classmethod
    def of_this_process(
        cls,
        target: str,
        *,
        command: Sequence[str] | None = None,
        bundle: str | os.PathLike[str] | None = None,
        started_at: datetime | None = None,
    ) -> Holder:
        """This process as the holder: pid, host name, user, now (UTC) and `sys.argv`."""
        return cls(
            target=normalise_target(target),
            pid=os.getpid(),
            host=socket.gethostname(),
            user=_user(),
            started_at=(started_at or datetime.now(UTC)).astimezone(UTC),
            command=tuple(sys.argv if command is None else command),
            bundle=None if bundle is None else os.fspath(bundle),
        )

    def as_dict(self) -> dict[str, Any]:
        """The holder as written into the lock file (JSON)."""
        return {
            "target": self.target,
            "pid": self.pid,
            "host": self.host,
            "user": self.user,
            "started_at": _utc_text(self.started_at),
            "command": list(self.command),
            "bundle": self.bundle,
        }

    @classmethod
    def from_dict(cls, data: object) -> Holder | None:
        """The holder read back from a lock file; None when any field is missing or wrong."""
        if not isinstance(data, dict):
            return None
        pid, command, bundle = data.get("pid"), data.get("command"), data.get("bundle")
        texts = [data.get(key) for key in ("target", "host", "user", "started_at")]
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            return None
        if not all(isinstance(text, str) for text in texts):
            return None
        if not isinstance(command, list) or not all(isinstance(arg, str) for arg in command):
            return None
        if bundle is not None and not isinstance(bundle, str):
            return None
        try:
            started_at = datetime.fromisoformat(str(data["started_at"]))
        except ValueError:
            return None
        if started_at.tzinfo is None:
            return None
        return cls(
            target=str(data["target"]),
            pid=pid,
            host=str(data["host"]),
            user=str(data["user"]),
            started_at=started_at.astimezone(UTC),
            command=tuple(command),
            bundle=bundle,
        )

    def describe(self) -> str:
        """One line: pid, host, user, start time (UTC), command line and bundle."""
        text = (
            f"pid {self.pid} on host {self.host} (user {self.user}), started "
            f"{_utc_text(self.started_at)}, `{_one_line(shlex.join(self.command))}`"
        )
        return text + (f", bundle {_one_line(self.bundle)}" if self.bundle else "")


class LockHeld(HarnessError):
    """Another session holds the upgrade lock of the target.

    `holder` is None when its details could not be read (being written, or not a holder file).
    """

    def __init__(self, target: str, holder: Holder | None, path: Path) -> None:
        self.target = target
        self.holder = holder
        self.path = path
        who = holder.describe() if holder is not None else f"holder unknown (see {path})"
        super().__init__(
            f"another session holds the upgrade lock of {target}: {who}; wait for it to "
            "finish or stop it"
        )


def normalise_target(url: str) -> str:
    """The DTR URL as the lock knows it: `https://host[:port][/path]`, lower-case host, no
    credentials, no default port, no trailing slash; a bare host means https."""
    text = url.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host:
        raise LockError(f"cannot lock {url!r}: it names no host")
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise LockError(f"cannot lock {url!r}: its port is not a number") from None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def addresses(target_url: str) -> list[str]:
    """The DTR's URL and the same DTR at each address its host resolves to, so that
    `localhost:8443` and `127.0.0.1:8443` are one DTR to the lock (a name that does not
    resolve is only itself)."""
    url = normalise_target(target_url)
    parts = urlsplit(url)
    port = parts.port or 443
    try:
        infos = socket.getaddrinfo(parts.hostname or "", port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        infos = []
    ips = sorted({str(info[4][0]) for info in infos})
    found = [
        url,
        *(
            normalise_target(f"https://[{ip}]:{port}" if ":" in ip else f"https://{ip}:{port}")
            for ip in ips
        ),
    ]
    return list(dict.fromkeys(found))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _one_line(text: str) -> str:
    return " ".join(text.split())
