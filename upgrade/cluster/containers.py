"""DTR's containers as the Docker engine reports them: a replica's containers (name, state,
version label) and running bootstrappers.

The engine is the one the docker SDK is pointed at by `DOCKER_HOST` (with `DOCKER_TLS_VERIFY`
and `DOCKER_CERT_PATH`), which is how a UCP client bundle reaches every node of the cluster.
Each replica runs `dtr-<service>-<replica ID>` containers labelled `com.docker.dtr.version`
and `com.docker.dtr.replica` (or, without them, `com.docker.compose.project`, read as launchpad
reads it); the bootstrapper's upgrade has succeeded on a replica when every
one of them runs with the target version's label. A bootstrapper is a container of the
`<org>/dtr` image running a command such as `upgrade`.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from upgrade.errors import HarnessError, one_line
from upgrade.procedure.bootstrapper import DockerEngineUnreachable
from upgrade.rules.versions import Version

__all__ = [
    "BOOTSTRAPPER_REPOSITORIES",
    "COMPOSE_PROJECT_LABEL",
    "DEFAULT_DOCKER_HOST",
    "EXPECTED_SERVICES",
    "VERSION_LABEL",
    "BootstrapperContainer",
    "ContainerState",
    "EngineScan",
    "close_client",
    "engine_client",
    "engine_configured",
    "engine_host",
    "expected_services",
    "is_bootstrapper_image",
    "label_version",
    "missing_services",
    "replica_containers",
    "running_bootstrappers",
]

# The bootstrapper's repositories, as a path suffix so a mirror (`registry:5000/mirantis/dtr`)
# matches: docker/dtr (legacy), mirantis/dtr (>= 2.6.15, 2.7.8, 2.8.2), registry.mirantis.com/
# msr/dtr (2.10).
BOOTSTRAPPER_REPOSITORIES: Final = ("docker/dtr", "mirantis/dtr", "msr/dtr")
UPGRADE_COMMAND: Final = "upgrade"
DEFAULT_DOCKER_HOST: Final = "unix:///var/run/docker.sock"
# How long the engine's socket may take to accept a connection before it counts as unreachable.
PROBE_TIMEOUT_S: Final = 5.0

VERSION_LABEL = "com.docker.dtr.version"
REPLICA_LABEL = "com.docker.dtr.replica"
# Releases without the two labels above carry the version in this one: launchpad's
# pkg/msr/msr.go (CollectFacts) falls back to it ("this MSR version does not support the version
# Config.Labels"), taking the version from its 4th word and the replica ID from its last word
# without the closing `)` (fidelity-review.md 14). Which releases lack the labels, and the
# label's exact text, were not found: a value whose 4th word is no version gives no version.
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
# The containers of a replica in DTR 2.6 to 2.9 (the architecture page).
EXPECTED_SERVICES = (
    "api",
    "garant",
    "jobrunner",
    "nginx",
    "notary-server",
    "notary-signer",
    "registry",
    "rethinkdb",
    "scanningstore",
)


@dataclass(frozen=True)
class ContainerState:
    """One DTR container of a replica."""

    name: str
    service: str
    status: str
    version: str
    image: str


def expected_services(version: Version) -> tuple[str, ...]:
    """The services a replica of DTR `version` runs a container for: EXPECTED_SERVICES from
    2.6 on; none for older versions, whose container set the architecture page does not list."""
    return EXPECTED_SERVICES if (version.major, version.minor) >= (2, 6) else ()


def missing_services(found: Iterable[ContainerState], version: Version) -> list[str]:
    """The expected services of `version` (see `expected_services`) with no container found."""
    services = {state.service for state in found}
    return [service for service in expected_services(version) if service not in services]


def on_release(label: str, version: Version) -> bool:
    """Whether a container's version label is a build of `version`'s release (`2.7.0-29094adc`
    is 2.7.0, as docs.json's info.version is compared; versions.py); an empty or malformed label
    is not."""
    try:
        return Version.parse(label).release == version.release
    except ValueError:
        return False


def label_version(labels: Mapping[str, str]) -> str:
    """The DTR version a container's labels give: `com.docker.dtr.version`, else, as launchpad
    reads it, the 4th word of `com.docker.compose.project`; empty when neither gives one."""
    version = str(labels.get(VERSION_LABEL) or "").strip()
    if version:
        return version
    words = str(labels.get(COMPOSE_PROJECT_LABEL) or "").split()
    if len(words) < 4:
        return ""
    try:
        Version.parse(words[3])
    except ValueError:
        return ""
    return words[3]


def engine_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a Docker engine of the cluster is configured (`DOCKER_HOST`, e.g. a UCP bundle)."""
    env = os.environ if environ is None else environ
    return bool(env.get("DOCKER_HOST"))


def engine_host(environ: Mapping[str, str] | None = None) -> str:
    """The engine the docker SDK talks to: `DOCKER_HOST`, else the local engine's socket."""
    env = os.environ if environ is None else environ
    return env.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def _unix_socket_accepts(path: str, timeout_s: float) -> str | None:
    """None when something accepts connections at `path`, else why not."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout_s)
        try:
            probe.connect(path)
        except OSError as exc:
            return f"{path}: {exc.strerror or type(exc).__name__}"
    return None


def engine_client(environ: Mapping[str, str] | None = None) -> Any:
    """A docker SDK client of the engine, as `docker.from_env()` makes it.

    Raises `DockerEngineUnreachable` (a `HarnessError`) when no engine answers. A unix socket is
    asked first: when the connection fails, the SDK leaves the socket it opened to the garbage
    collector (docker-py's `UnixHTTPConnection.connect`), which then warns of an unclosed socket.
    """
    import docker
    import docker.errors
    import requests

    env = dict(os.environ if environ is None else environ)
    host = engine_host(env)
    if host.startswith("unix://"):
        refused = _unix_socket_accepts(host.removeprefix("unix://"), PROBE_TIMEOUT_S)
        if refused is not None:
            raise DockerEngineUnreachable(host, refused)
    try:
        return docker.from_env(environment=env)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise DockerEngineUnreachable(host, _first_line(exc)) from None


def close_client(client: object) -> None:
    """Close a Docker client (a test's stand-in may have no `close`)."""
    close = getattr(client, "close", None)
    if callable(close):
        close()


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def replica_containers(
    replica_id: str, client_factory: Callable[[], Any] = engine_client
) -> list[ContainerState]:
    """The DTR containers of `replica_id` (running or not), sorted by name.

    Through UCP, names carry the node as a prefix (`/node-1/dtr-nginx-<rid>`); both forms match.
    Raises `HarnessError` when the engine cannot be reached.
    """
    pattern = re.compile(rf"(?:^|/)dtr-(?P<service>[a-z-]+)-{re.escape(replica_id)}$")
    try:
        client = client_factory()
    except DockerEngineUnreachable:
        raise
    except Exception as exc:  # the SDK raises DockerException or requests errors alike
        raise HarnessError(
            f"cannot reach the Docker engine at {os.environ.get('DOCKER_HOST', '?')}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; check DOCKER_HOST, "
            "DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (a UCP client bundle sets them)"
        ) from None
    try:
        listed = client.containers.list(all=True, filters={"name": f"-{replica_id}"})
        found = []
        for container in listed:
            name = str(container.name)
            match = pattern.search(name)
            if match is None:
                continue
            labels = dict(container.labels or {})
            image = container.attrs.get("Config", {}).get("Image", "")
            found.append(
                ContainerState(
                    name=name,
                    service=match["service"],
                    status=str(container.status),
                    version=label_version(labels),
                    image=str(image),
                )
            )
    except Exception as exc:  # docker.errors.APIError and connection errors alike
        raise HarnessError(
            f"listing the containers of replica {replica_id} failed: {_first_line(exc)}"
        ) from None
    finally:
        close_client(client)
    return sorted(found, key=lambda state: state.name)


@dataclass(frozen=True)
class BootstrapperContainer:
    """A running container of a bootstrapper image: its command and the UCP it works on
    (`--ucp-url` or `UCP_URL`), never its other arguments (they may hold the UCP password)."""

    id: str
    name: str
    image: str
    command: str
    node: str | None
    started_at: str | None
    ucp_url: str | None

    @property
    def upgrading(self) -> bool:
        """Whether it runs the bootstrapper's `upgrade`."""
        return self.command == UPGRADE_COMMAND

    def works_on(self, ucp_url: str | None) -> bool:
        """Whether it may work on the cluster of `ucp_url`: yes when it names that UCP, and
        when either side is unknown (the safe answer)."""
        if ucp_url is None or self.ucp_url is None:
            return True
        return _ucp_key(self.ucp_url) == _ucp_key(ucp_url)

    def describe(self) -> str:
        """One line: name, image, command, node, UCP and start time."""
        where = f" on node {self.node}" if self.node else ""
        ucp = f" for UCP {self.ucp_url}" if self.ucp_url else ""
        since = f", running since {self.started_at}" if self.started_at else ""
        return f"{self.name} ({self.image}, `{self.command}`{ucp}{where}{since}; ID {self.id})"


def _ucp_key(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    try:
        port = parts.port or 443
    except ValueError:
        port = 443
    return (parts.hostname or url).lower(), port


@dataclass(frozen=True)
class EngineScan:
    """What the engine said about itself and the bootstrappers running on it."""

    host: str
    version: str
    shows_every_node: bool
    bootstrappers: tuple[BootstrapperContainer, ...]

    @property
    def upgrading(self) -> tuple[BootstrapperContainer, ...]:
        """The bootstrappers running `upgrade`."""
        return tuple(b for b in self.bootstrappers if b.upgrading)


def _repository(reference: str) -> str:
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name.rsplit(":", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        name = name.removeprefix(prefix)
    return name.removeprefix("library/").lower()


def is_bootstrapper_image(reference: str, repositories: Iterable[str] = ()) -> bool:
    """Whether an image reference is a bootstrapper's: its repository is, or ends with, one of
    `BOOTSTRAPPER_REPOSITORIES` or of `repositories` (e.g. --dtr-image)."""
    repository = _repository(reference)
    known = {_repository(r) for r in (*BOOTSTRAPPER_REPOSITORIES, *repositories) if r}
    return any(repository == r or repository.endswith(f"/{r}") for r in known)


def _bootstrapper_command(arguments: Sequence[str]) -> str:
    # The entrypoint (`/bin/dtr`, or the lab's `python3 -m dtrlab.bootstrapper --image-version V`)
    # is followed by the command; only the command is kept, never a flag's value.
    if UPGRADE_COMMAND in arguments:
        return UPGRADE_COMMAND
    words = [a for a in arguments[1:] if re.fullmatch(r"[a-z][a-z0-9-]*", a)]
    return words[0] if words else "(unknown)"


def _ucp_url_of(arguments: Sequence[str], environment: Iterable[str]) -> str | None:
    for index, argument in enumerate(arguments):
        if argument.startswith("--ucp-url="):
            return argument.partition("=")[2] or None
        if argument == "--ucp-url" and index + 1 < len(arguments):
            return arguments[index + 1]
    for variable in environment:
        name, _, value = variable.partition("=")
        if name == "UCP_URL" and value:
            return value
    return None


def _started_at(text: object) -> str | None:
    if not isinstance(text, str) or text.startswith("0001-"):
        return None
    try:
        moment = datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", text))
    except ValueError:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _inspected(client: Any, listed: Mapping[str, Any]) -> BootstrapperContainer | None:
    import docker.errors

    try:
        attrs = client.api.inspect_container(listed["Id"])
    except docker.errors.NotFound:
        return None  # it ended between the listing and now
    config = attrs.get("Config") or {}
    state = attrs.get("State") or {}
    if not state.get("Running", False):
        return None
    path = attrs.get("Path")
    arguments = [str(a) for a in ([path] if path else []) + list(attrs.get("Args") or [])]
    name = str(attrs.get("Name") or (listed.get("Names") or ["?"])[0]).lstrip("/")
    node = (attrs.get("Node") or {}).get("Name") if isinstance(attrs.get("Node"), dict) else None
    if node is None and "/" in name:
        node, name = name.split("/", 1)
    return BootstrapperContainer(
        id=str(listed["Id"])[:12],
        name=name,
        image=str(config.get("Image") or listed.get("Image") or "?"),
        command=_bootstrapper_command(arguments),
        node=str(node) if node else None,
        started_at=_started_at(state.get("StartedAt")),
        ucp_url=_ucp_url_of(arguments, [str(v) for v in config.get("Env") or []]),
    )


def running_bootstrappers(
    repositories: Iterable[str] = (), client_factory: Callable[[], Any] = engine_client
) -> EngineScan:
    """The engine's running bootstrapper containers (any command), read-only.

    Through UCP (a client bundle) the engine shows every node's containers; a single engine
    shows only its own. Raises `DockerEngineUnreachable` when no engine answers, `HarnessError`
    when it answers but cannot list its containers.
    """
    extra = tuple(repositories)
    client = client_factory()
    host = engine_host()
    try:
        version = client.version()
        server = str(version.get("Version", "")) if isinstance(version, dict) else ""
        found = []
        for listed in client.api.containers(filters={"status": "running"}):
            image = str(listed.get("Image", ""))
            # An image whose tag moved on is listed by ID; its name is in the inspection.
            if not (is_bootstrapper_image(image, extra) or image.startswith("sha256:")):
                continue
            container = _inspected(client, listed)
            if container is not None and is_bootstrapper_image(container.image, extra):
                found.append(container)
    except Exception as exc:  # docker.errors.APIError and connection errors alike
        raise HarnessError(
            f"the Docker engine at {host} could not list its running containers: "
            f"{one_line(_first_line(exc))}"
        ) from None
    finally:
        close_client(client)
    return EngineScan(
        host=host,
        version=server,
        shows_every_node=server.lower().startswith("ucp/"),
        bootstrappers=tuple(sorted(found, key=lambda b: (b.node or "", b.name))),
    )
