"""The bootstrapper's `upgrade` run as data: the request, its arguments, and what came of it.

Owns `BootstrapperRequest` (what one run needs, the password kept out of argv and `repr`),
`bootstrapper_args` (the documented flags), `log_level` and `fatal_line` (logrus' line forms),
`split_image_reference`, the results (`ImageInfo`, `PullProgress`, `AttemptResult`) and
the errors raised while preparing or starting the bootstrapper. Pure: nothing here runs anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from upgrade.cluster.job_logs import TTY_LEVELS
from upgrade.errors import HarnessError
from upgrade.rules.versions import Version

__all__ = [
    "AttemptResult",
    "BootstrapperImageMissing",
    "BootstrapperRequest",
    "DockerEngineUnreachable",
    "ExecutorError",
    "ImageInfo",
    "PullProgress",
    "accepts_no_image_check",
    "bootstrapper_args",
    "fatal_line",
    "log_level",
    "split_image_reference",
]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# logrus prints `INFO[0003] msg` to a terminal and `time="..." level=info msg="..."` otherwise
# (its TextFormatter); the bootstrapper runs without a TTY (`docker run -i`, as launchpad's
# cmdbuffer/logrus.go parses it; fidelity-review.md 15), and a JSON formatter gives "level".
_TTY_LEVEL = re.compile(rf"^\s*({'|'.join(TTY_LEVELS)})\[\d*\]")
_TEXT_LEVEL = re.compile(r"(?:^|\s)level=\"?([A-Za-z]+)\"?(?=\s|$)")
_JSON_LEVEL = re.compile(r'^\s*\{.*?"level"\s*:\s*"([A-Za-z]+)"')
# Each level by its name and by its terminal abbreviation, lower case (`erro`, `error`).
_LEVELS = {
    **{short.lower(): name for short, name in TTY_LEVELS.items()},
    **{name: name for name in TTY_LEVELS.values()},
}
FATAL_LEVELS = frozenset({"fatal", "panic"})
# The bootstrapper commands the harness runs (reference/dtr/2.6/cli/{upgrade,backup}.md).
BOOTSTRAPPER_COMMANDS = ("upgrade", "backup")


class ExecutorError(HarnessError):
    """The bootstrapper could not be prepared or started; the message says what to fix."""


class DockerEngineUnreachable(ExecutorError):
    """The Docker engine (or UCP, through a client bundle) did not answer."""

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        super().__init__(
            f"cannot reach the Docker engine at {host}: {reason}; set DOCKER_HOST (and "
            "DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) or load the UCP client bundle (source env.sh)"
        )


class BootstrapperImageMissing(ExecutorError):
    """Offline mode, and the bootstrapper image is not on the engine."""

    def __init__(self, image: str, host: str) -> None:
        self.image = image
        super().__init__(
            f"the bootstrapper image {image} is not present on the Docker engine at {host} and "
            f"--offline forbids pulling it; load it on every node with `docker load -i <dtr "
            f"offline bundle>.tar.gz` (`docker run --rm {image} images` lists every image the "
            "upgrade needs), or drop --offline to pull it"
        )


@dataclass(frozen=True)
class BootstrapperRequest:
    """What one `upgrade` run needs; the password never appears in `repr` or in argv.

    `ucp_ca_pem` is the PEM *content* of UCP's CA (the CLI takes `--ucp-ca "$(cat ca.pem)"`);
    give it or set `ucp_insecure_tls`, not both. `extra_env` is added to the bootstrapper's
    environment (for example `DEBUG` or `NOCOLOR`); it may not override `UCP_PASSWORD`.
    `command` is `upgrade`, or `backup` (its archive on stdout, `target_version` then the
    running version: dtr-facts.md 1.3); both take the same UCP and replica flags.
    """

    image: str
    target_version: str
    ucp_url: str
    ucp_username: str
    ucp_password: str = field(repr=False)
    existing_replica_id: str | None = None
    ucp_ca_pem: str | None = field(default=None, repr=False)
    ucp_insecure_tls: bool = False
    debug: bool = False
    no_image_check: bool = False
    extra_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    command: str = "upgrade"

    def __post_init__(self) -> None:
        problems = []
        if self.command not in BOOTSTRAPPER_COMMANDS:
            problems.append(f"the command {self.command!r} is not one of upgrade, backup")
        if not self.image.strip():
            problems.append("the bootstrapper image is empty (set --dtr-image or the catalogue)")
        if not self.ucp_url.strip():
            problems.append("the UCP URL is empty (set --ucp-url)")
        if not self.ucp_username.strip():
            problems.append("the UCP username is empty (set UCP_USERNAME)")
        if not self.ucp_password:
            problems.append("the UCP password is empty (set UCP_PASSWORD)")
        if self.ucp_ca_pem is not None and self.ucp_insecure_tls:
            problems.append("give either UCP's CA (--ucp-ca) or --insecure-tls, not both")
        if self.ucp_ca_pem is not None and "-----BEGIN CERTIFICATE-----" not in self.ucp_ca_pem:
            problems.append("the UCP CA is not PEM text (pass the content of ca.pem)")
        if "UCP_PASSWORD" in self.extra_env:
            problems.append("extra_env may not set UCP_PASSWORD (it comes from ucp_password)")
        if problems:
            raise ExecutorError("invalid bootstrapper request: " + "; ".join(problems))

    def environment(self) -> dict[str, str]:
        """The variables the bootstrapper receives: `extra_env` plus `UCP_PASSWORD`."""
        return {**self.extra_env, "UCP_PASSWORD": self.ucp_password}

    def scrub(self, text: str) -> str:
        """`text` with the UCP password replaced, for messages built from foreign errors."""
        return text.replace(self.ucp_password, "****") if self.ucp_password else text


def bootstrapper_args(request: BootstrapperRequest) -> list[str]:
    """The documented flags that follow the command, in a stable order; never the password.
    `upgrade` and `backup` share them (reference/dtr/2.6/cli/{upgrade,backup}.md)."""
    args = ["--ucp-url", request.ucp_url, "--ucp-username", request.ucp_username]
    if request.existing_replica_id:
        args += ["--existing-replica-id", request.existing_replica_id]
    if request.ucp_ca_pem is not None:
        args += ["--ucp-ca", request.ucp_ca_pem]
    elif request.ucp_insecure_tls:
        args.append("--ucp-insecure-tls")
    if request.debug:
        args.append("--debug")
    if request.no_image_check:
        args.append("--no-image-check")
    return args


def accepts_no_image_check(version: Version) -> bool:
    """Whether the `upgrade` of DTR `version` has `--no-image-check` ("Disable the check for
    manifest v1 images during the upgrade", reference/dtr/2.6/cli/upgrade.md): 2.6 only; the
    2.5 and 2.7 references have no such flag (dtr-facts.md 1.1), so it is never passed to them."""
    return (version.major, version.minor) == (2, 6)


def log_level(line: str) -> str | None:
    """The logrus level of a bootstrapper line (`trace` ... `panic`), None for other lines.

    Both text forms: `ERRO[0112] Upgrade has failed.` (a terminal) and
    `time="2019-07-23T10:00:00Z" level=error msg="Upgrade has failed."` (no TTY), and the JSON
    formatter's `"level": "error"`.
    """
    text = _ANSI.sub("", line)
    match = _TTY_LEVEL.match(text) or _TEXT_LEVEL.search(text) or _JSON_LEVEL.match(text)
    return _LEVELS.get(match.group(1).lower()) if match else None


def fatal_line(line: str) -> bool:
    """Whether a bootstrapper log line is fatal (`FATA[0112] ...` or `level=fatal`), as
    launchpad's bootstrap.go counts any `level=fatal` line a failure (dtr-facts.md 1.2)."""
    return log_level(line) in FATAL_LEVELS


@dataclass(frozen=True)
class ImageInfo:
    """The bootstrapper that will run: its name, its digest and whether it was pulled now.

    `digest_source` says what `digest` is: `registry` (the repository digest the image was
    pulled by, `sha256:...`), `image-id` (the local image ID, for an image loaded with
    `docker load` that has no repository digest) or `lab-source` (a SHA-256 of the lab
    bootstrapper's source files, prefixed `lab-source:`, never a registry digest).
    """

    image: str
    digest: str
    pulled: bool
    digest_source: str = "registry"


@dataclass(frozen=True)
class PullProgress:
    """One progress event of an image pull (per layer while downloading)."""

    image: str
    status: str
    layer: str | None = None
    current: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class AttemptResult:
    """The outcome of one run of `upgrade`.

    `exit_code` is None when the process never reported one (stopped before it could, or the
    engine lost it); `fatal` is the first fatal log line; `interrupted` means `stop()` or a
    KeyboardInterrupt ended it; `timed_out` means the timeout did; `lines` counts the log lines
    delivered; `output_error` is the first output error the line callback raised (the attempt
    went on regardless).
    """

    exit_code: int | None
    fatal: str | None
    started_at: datetime
    duration_s: float
    interrupted: bool = False
    timed_out: bool = False
    lines: int = 0
    output_error: str | None = None

    @property
    def ok(self) -> bool:
        """Exit status 0, no fatal line, and neither stopped nor timed out."""
        return (
            self.exit_code == 0
            and self.fatal is None
            and not self.interrupted
            and not self.timed_out
        )

    def describe(self) -> str:
        """One line for the terminal and the report: how the attempt ended."""
        if self.interrupted:
            return f"interrupted after {self.duration_s:.1f} s; re-run the upgrade to resume"
        if self.timed_out:
            return f"timed out after {self.duration_s:.1f} s; re-run the upgrade to resume"
        if self.ok:
            return f"succeeded in {self.duration_s:.1f} s"
        status = "no exit status" if self.exit_code is None else f"exit status {self.exit_code}"
        detail = f": {self.fatal}" if self.fatal else ""
        return f"failed with {status} after {self.duration_s:.1f} s{detail}"


def split_image_reference(image: str) -> tuple[str, str]:
    """`docker/dtr:2.6.4` -> (`docker/dtr`, `2.6.4`); a digest reference keeps `sha256:...`.

    A registry port (`registry.example.com:5000/msr/dtr:2.9.0`) is not mistaken for a tag; no
    tag means `latest`, as with `docker pull`.
    """
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, "latest"
