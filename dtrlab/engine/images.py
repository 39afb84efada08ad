"""The lab's images, built from Debian packages only and pushed to the lab's registry.

Three layers, each built only when missing:

1. `dtrlab/base:bookworm`: a `debootstrap --variant=minbase` root file system with Python 3 and
   trustme, imported with `docker import`. The root file system is kept as a tar under the
   cache directory, so a machine debootstraps once.
2. `dtrlab/app:<source hash>`: the base plus the lab's Python package (without this engine
   package), tagged by a hash of the files, so a code change builds a new one.
3. per DTR version: the app with `LABEL com.docker.dtr.version`, `ENV DTR_VERSION` and the
   simulated bootstrapper as entry point, tagged as DTR's bootstrapper
   (`<registry>/docker/dtr:<version>`) and as each replica service's image
   (`<registry>/docker/dtr-api:<version>`, ...), and pushed.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import requests

import dtrlab
from dtrlab.component_images import services_for
from dtrlab.engine.settings import (
    LAB_LABEL,
    VERSION_LABEL,
    EngineError,
    EngineSettings,
)

DEBOOTSTRAP_PACKAGES = ("python3", "python3-cffi-backend", "python3-trustme", "ca-certificates")
DEBOOTSTRAP_TIMEOUT_S = 1200.0
TAR_TIMEOUT_S = 300.0
APP_REPOSITORY = "dtrlab/app"
APP_ROOT = "/opt/dtrlab"

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    """Discard progress lines."""


@dataclass(frozen=True)
class Published:
    """One version's images: the bootstrapper's reference and the digest the registry gave it."""

    version: str
    bootstrapper: str
    digest: str
    services: tuple[str, ...]


def rootfs_tar(settings: EngineSettings) -> Path:
    """Where the cached Debian root file system tar lives."""
    return settings.cache / f"base-{settings.suite}.tar"


def ensure_rootfs(settings: EngineSettings, say: Say = _quiet) -> Path:
    """The cached root file system tar; debootstrap it from the mirror when missing."""
    target = rootfs_tar(settings)
    if target.is_file():
        return target
    program = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(program).is_file():
        raise EngineError(
            "debootstrap is not installed; install it with `apt-get install debootstrap`"
        )
    settings.cache.mkdir(parents=True, exist_ok=True)
    rootfs = settings.cache / f"rootfs-{settings.suite}.partial"
    shutil.rmtree(rootfs, ignore_errors=True)
    argv = [
        program,
        "--variant=minbase",
        "--include=" + ",".join(DEBOOTSTRAP_PACKAGES),
        settings.suite,
        str(rootfs),
        settings.mirror,
    ]
    say(f"debootstrap {settings.suite} from {settings.mirror} (about a minute)")
    began = time.monotonic()
    _run(argv, DEBOOTSTRAP_TIMEOUT_S, "debootstrap", rootfs / "debootstrap" / "debootstrap.log")
    partial = target.with_suffix(".tar.partial")
    _run(
        ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."],
        TAR_TIMEOUT_S,
        "tar",
        None,
    )
    partial.rename(target)
    shutil.rmtree(rootfs, ignore_errors=True)
    say(f"root file system cached as {target} in {time.monotonic() - began:.1f} s")
    return target


def _run(argv: list[str], timeout_s: float, what: str, log: Path | None) -> None:
    try:
        result = subprocess.run(
            argv, capture_output=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise EngineError(
            f"{what} did not finish within {timeout_s:g} s: {' '.join(argv)}"
        ) from None
    except OSError as exc:
        raise EngineError(f"cannot run {what}: {exc.strerror or exc}") from None
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
        where = f"; see {log}" if log is not None else ""
        raise EngineError(
            f"{what} failed with status {result.returncode}{where}: "
            + "\n".join(output.splitlines()[-10:])
        )


def image_exists(client: Any, reference: str) -> bool:
    """Whether the engine has an image called `reference`."""
    try:
        client.images.get(reference)
    except docker.errors.ImageNotFound:
        return False
    return True


def ensure_base(client: Any, settings: EngineSettings, say: Say = _quiet) -> str:
    """The base image on the engine, imported from the cached root file system when missing."""
    if image_exists(client, settings.base_image):
        return settings.base_image
    tar = ensure_rootfs(settings, say)
    repository, tag = settings.base_image.split(":")
    began = time.monotonic()
    try:
        client.api.import_image_from_file(
            str(tar), repository=repository, tag=tag, changes=['CMD ["/bin/bash"]']
        )
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise EngineError(f"docker import of {tar} failed: {exc}") from None
    if not image_exists(client, settings.base_image):
        raise EngineError(f"docker import of {tar} did not create {settings.base_image}")
    say(f"imported {settings.base_image} in {time.monotonic() - began:.1f} s")
    return settings.base_image


def lab_sources() -> list[tuple[str, bytes]]:
    """(path inside the image, content) of every lab file the images carry, sorted."""
    package = Path(dtrlab.__file__).parent
    files: list[tuple[str, bytes]] = []
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package)
        if not path.is_file() or relative.parts[0] == "engine" or "__pycache__" in relative.parts:
            continue
        if path.suffix in (".pyc", ".pyo"):
            continue
        files.append((f"dtrlab/{relative.as_posix()}", path.read_bytes()))
    return files


def _context(dockerfile: str, files: Iterable[tuple[str, bytes]] = ()) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in [("Dockerfile", dockerfile.encode()), *files]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    return buffer


def _build(client: Any, context: io.BytesIO, tag: str) -> None:
    try:
        for event in client.api.build(
            fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, decode=True
        ):
            if isinstance(event, dict) and "error" in event:
                raise EngineError(f"building {tag} failed: {str(event['error']).strip()}")
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise EngineError(f"building {tag} failed: {exc}") from None
    if not image_exists(client, tag):
        raise EngineError(f"the build of {tag} ended without an image")


def ensure_app(client: Any, settings: EngineSettings, say: Say = _quiet) -> str:
    """The base plus the lab's code, tagged by the code's hash; built when missing."""
    base = ensure_base(client, settings, say)
    files = lab_sources()
    digest = hashlib.sha256()
    for name, content in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    tag = f"{APP_REPOSITORY}:{digest.hexdigest()[:16]}"
    if image_exists(client, tag):
        return tag
    dockerfile = (
        f"FROM {base}\n"
        f"COPY dtrlab {APP_ROOT}/dtrlab\n"
        f"ENV PYTHONPATH={APP_ROOT} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1\n"
        f'LABEL {LAB_LABEL}="app"\n'
    )
    began = time.monotonic()
    _build(client, _context(dockerfile, files), tag)
    say(f"built {tag} in {time.monotonic() - began:.1f} s")
    return tag


def version_dockerfile(app: str, version: str, repository: str = "docker") -> str:
    """The Dockerfile of one DTR version's image: the bootstrapper as its entry point, and the
    repository its `images` command lists the images under (`<registry>/docker`)."""
    entrypoint = json.dumps(["python3", "-m", "dtrlab.bootstrapper", "--image-version", version])
    return (
        f"FROM {app}\n"
        f'LABEL {VERSION_LABEL}="{version}" {LAB_LABEL}="dtr"\n'
        f"ENV DTR_VERSION={version} DTRLAB_IMAGE_REPOSITORY={repository}\n"
        f"ENTRYPOINT {entrypoint}\n"
        'CMD ["--help"]\n'
    )


def build_version(client: Any, settings: EngineSettings, version: str, say: Say = _quiet) -> str:
    """Build DTR `version`'s image and tag it as the bootstrapper and every service image."""
    from dtrlab.catalogue import parse_version

    parse_version(version)
    app = ensure_app(client, settings, say)
    bootstrapper = settings.bootstrapper_image(version)
    repository = bootstrapper.rsplit(":", 1)[0].rsplit("/", 1)[0]
    _build(client, _context(version_dockerfile(app, version, repository)), bootstrapper)
    image = client.images.get(bootstrapper)
    for service in services_for(version):
        repository, tag = settings.service_image(service, version).rsplit(":", 1)
        if not image.tag(repository, tag):
            raise EngineError(f"cannot tag {bootstrapper} as {repository}:{tag}")
    return bootstrapper


def push(client: Any, reference: str) -> str:
    """Push `reference` to its registry; return the manifest digest the registry reported."""
    repository, tag = reference.rsplit(":", 1)
    digest = ""
    try:
        for event in client.api.push(repository, tag, stream=True, decode=True):
            if not isinstance(event, dict):
                continue
            if "error" in event:
                raise EngineError(f"pushing {reference} failed: {str(event['error']).strip()}")
            aux = event.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("Digest"), str):
                digest = aux["Digest"]
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise EngineError(f"pushing {reference} failed: {exc}") from None
    if not digest.startswith("sha256:"):
        raise EngineError(f"the registry did not report a digest for {reference}")
    return digest


def publish(
    client: Any, settings: EngineSettings, versions: Sequence[str], say: Say = _quiet
) -> list[Published]:
    """Build and push every version's bootstrapper and service images."""
    published = []
    for version in versions:
        began = time.monotonic()
        bootstrapper = build_version(client, settings, version, say)
        digest = push(client, bootstrapper)
        services = tuple(settings.service_image(s, version) for s in services_for(version))
        for reference in services:
            push(client, reference)
        say(f"published {bootstrapper} ({digest}) in {time.monotonic() - began:.1f} s")
        published.append(Published(version, bootstrapper, digest, services))
    return published
