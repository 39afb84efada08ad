"""Content trust around the upgrade: UCP's "run only signed images" with the repositories it lets
bypass the check, and the engines' own runtime enforcement.

UCP/MKE's `[trust_configuration] allow_repos` lists "repos that are to bypass content trust
check, for example `["docker.io/mirantis/dtr-rethink", "docker.io/mirantis/dtr-registry" ...]`"
(MKE configuration options, trust_configuration table; fidelity-review.md 6): sites that keep
trust on list the DTR images there. The entries are full repository names, so both sides are
compared in Docker's normalised form (no domain means `docker.io`, a one-part name on Docker Hub
is `library/NAME`: distribution/reference `ParseNormalizedNamed`). Whether an entry may be a
prefix or a pattern is not documented: only exact repositories count.

The engine's own enforcement is separate ("separate from the only run signed images feature of
MKE", Mirantis MCR "Runtime Enforcement with Docker Content Trust"): `/etc/docker/daemon.json`
`{"content-trust": {"mode": "enforced"}}` refuses `docker pull` and `docker run` of unsigned
images; `mode` is `disabled` (the default when absent), `permissive` (logged only) or `enforced`
(docker/docs engine content-trust page, "Enabling DCT within the Docker Enterprise Engine").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import testinfra

from upgrade.clients.ucp import ContentTrust
from upgrade.errors import one_line

DOCKER_HUB = "docker.io"
DAEMON_JSON = "/etc/docker/daemon.json"


def repository(image: str) -> str:
    """The normalised repository of an image reference: `docker/dtr:2.6.4` ->
    `docker.io/docker/dtr`, `127.0.0.1:5000/docker/dtr:2.6.4` -> itself without the tag."""
    name = image.strip().split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        first, rest = DOCKER_HUB, name
    if first in (DOCKER_HUB, "index.docker.io") and "/" not in rest:
        rest = f"library/{rest}"
    if first == "index.docker.io":
        first = DOCKER_HUB
    return f"{first}/{rest}".lower()


@dataclass(frozen=True)
class TrustJudgement:
    """What UCP's content trust does to the images an upgrade runs."""

    required: bool
    images: tuple[str, ...]
    allowed: tuple[str, ...]
    blocked: tuple[str, ...]

    @property
    def blocks(self) -> bool:
        """Whether UCP would refuse one of the images."""
        return self.required and bool(self.blocked)


def judge(trust: ContentTrust, images: Iterable[str]) -> TrustJudgement:
    """Which of `images` UCP lets run: all when trust is off, else those whose repository is in
    `allow_repos`."""
    wanted = tuple(dict.fromkeys(images))
    bypass = {repository(entry) for entry in trust.allow_repos if entry.strip()}
    allowed = tuple(i for i in wanted if not trust.required or repository(i) in bypass)
    blocked = tuple(i for i in wanted if i not in allowed)
    return TrustJudgement(trust.required, wanted, allowed, blocked)


def components_listed(trust: ContentTrust, image: str) -> bool:
    """Whether `allow_repos` lists any component repository beside the bootstrapper's
    (`<namespace>/dtr-*`): the bootstrapper starts `dtr-api`, `dtr-registry` and the other
    images the `images` command lists (dtr-facts.md 1.4), which UCP checks too."""
    prefix = repository(image) + "-"
    return any(repository(entry).startswith(prefix) for entry in trust.allow_repos)


@dataclass(frozen=True)
class EngineTrust:
    """One node's engine content-trust mode, read from its daemon.json (None: not read)."""

    host: str
    mode: str | None
    problem: str = ""

    @property
    def enforced(self) -> bool:
        """Whether the engine refuses unsigned images."""
        return self.mode == "enforced"

    def as_dict(self) -> dict[str, Any]:
        """The reading as evidence."""
        data: dict[str, Any] = {"host": self.host, "mode": self.mode}
        if self.problem:
            data["problem"] = self.problem
        return data


def engine_mode(text: str) -> str:
    """`content-trust.mode` of a daemon.json text; `disabled` when absent (the default)."""
    config = json.loads(text) if text.strip() else {}
    section = config.get("content-trust") if isinstance(config, dict) else None
    mode = section.get("mode") if isinstance(section, dict) else None
    return str(mode).strip().lower() if mode else "disabled"


def engine_trust(spec: str, host: Any) -> EngineTrust:
    """Read the content-trust mode of the engine on one testinfra host."""
    try:
        file = host.file(DAEMON_JSON)
        if not file.exists:
            return EngineTrust(spec, "disabled")
        return EngineTrust(spec, engine_mode(file.content_string))
    except ValueError as exc:
        return EngineTrust(spec, None, f"{DAEMON_JSON} is not valid JSON ({one_line(str(exc))})")
    except Exception as exc:  # testinfra raises its backends' own errors
        return EngineTrust(spec, None, f"could not read {DAEMON_JSON}: {one_line(str(exc))}")


def engines_trust(
    hosts: Iterable[str], get_host: Callable[[str], Any] = testinfra.get_host
) -> list[EngineTrust]:
    """The engine content-trust mode of every --hosts node (none without --hosts)."""
    readings = []
    for spec in hosts:
        try:
            host = get_host(spec)
        except Exception as exc:  # testinfra raises its backends' own errors
            readings.append(EngineTrust(spec, None, f"cannot reach the host: {one_line(str(exc))}"))
            continue
        readings.append(engine_trust(spec, host))
    return readings
