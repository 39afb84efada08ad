"""`python -m dtrlab.engine up|images|status|down`: the lab's engine tier on this machine.

`up` starts dockerd and the registry when they do not answer yet, builds the images that are
missing and pushes every requested version; it is idempotent and prints how long each step
took. `DOCKER_HOST`, `DTRLAB_REGISTRY`, `DTRLAB_CACHE`, `DTRLAB_STATE` and
`DTRLAB_DEBIAN_MIRROR` override the defaults (see `EngineSettings`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from dtrlab.engine.settings import EngineError, EngineSettings
from dtrlab.errors import LabError

# The lab's default starting version, the acceptance target, and the newest patch of each line
# the harness plans through by default.
DEFAULT_VERSIONS = ("2.5.11", "2.6.4", "2.6.15", "2.7.8")


def _say(text: str) -> None:
    print(f"dtrlab-engine: {text}", flush=True)


def _versions(text: str) -> list[str]:
    from dtrlab.catalogue import parse_version

    versions = [v.strip() for v in text.split(",") if v.strip()]
    for version in versions:
        parse_version(version)
    return versions


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m dtrlab.engine",
        description="Run the lab's Docker engine and registry and publish its DTR images.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "start dockerd and the registry if needed, build and push the images"),
        ("images", "build and push the images (engine and registry must answer)"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            "--versions",
            default=",".join(DEFAULT_VERSIONS),
            help="DTR versions to publish, comma separated (default %(default)s)",
        )
    commands.add_parser("status", help="say whether the engine and the registry answer")
    commands.add_parser(
        "prune",
        help="remove every lab replica container (left behind when a lab's engine was stopped "
        "under it); run it only while no lab is running",
    )
    commands.add_parser("down", help="stop the dockerd and registry this tool started")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit status 0 on success, 1 with a one-line reason otherwise."""
    args = build_parser().parse_args(argv)
    settings = EngineSettings.from_env()
    try:
        return _run(args, settings)
    except LabError as exc:
        print(f"dtrlab-engine: error: {exc}", file=sys.stderr, flush=True)
        return 1


def _run(args: argparse.Namespace, settings: EngineSettings) -> int:
    from dtrlab.engine import daemon

    if args.command == "status":
        version = daemon.engine_version(settings.docker_host)
        registry = daemon.registry_answers(settings.registry)
        _say(f"engine at {settings.docker_host}: {version or 'not answering'}")
        _say(f"registry at {settings.registry}: {'answering' if registry else 'not answering'}")
        return 0 if version and registry else 1
    if args.command == "prune":
        _say(f"removed {_prune(settings)} lab container(s)")
        return 0
    if args.command == "down":
        for line in daemon.stop(settings):
            _say(line)
        return 0
    versions = _versions(args.versions)
    began = time.monotonic()
    if args.command == "up":
        _say(daemon.ensure_dockerd(settings).describe())
        _say(daemon.ensure_registry(settings).describe())
    elif daemon.engine_version(settings.docker_host) is None:
        raise EngineError(f"no Docker engine answers at {settings.docker_host}; run `up` first")
    _publish(settings, versions)
    _say(f"ready in {time.monotonic() - began:.1f} s; DOCKER_HOST={settings.docker_host}")
    return 0


def _publish(settings: EngineSettings, versions: list[str]) -> None:
    import docker

    from dtrlab.engine.images import publish

    client = docker.DockerClient(base_url=settings.docker_host, timeout=600)
    try:
        publish(client, settings, versions, _say)
    finally:
        client.close()


def _prune(settings: EngineSettings) -> int:
    import docker

    from dtrlab.engine.settings import LAB_LABEL

    if daemon_version(settings) is None:
        raise EngineError(f"no Docker engine answers at {settings.docker_host}")
    client = docker.DockerClient(base_url=settings.docker_host, timeout=120)
    try:
        containers = client.containers.list(all=True, filters={"label": LAB_LABEL})
        for container in containers:
            container.remove(force=True)
        return len(containers)
    finally:
        client.close()


def daemon_version(settings: EngineSettings) -> str | None:
    """The engine's version, or None when it does not answer."""
    from dtrlab.engine import daemon

    return daemon.engine_version(settings.docker_host)
