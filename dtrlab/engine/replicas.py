"""The lab's replicas as containers: one per DTR service, replaced when the lab swaps a replica.

Each replica runs `dtr-api-<replica id>`, `dtr-nginx-<replica id>`, ... from
`<registry>/docker/dtr-<service>:<version>`, labelled `com.docker.dtr.version` and
`com.docker.dtr.replica` and with `DTR_VERSION` in its environment, as DTR's containers are.
A watcher follows the lab's cluster state: when the bootstrapper takes a replica down for its
swap, the replica's containers are removed; when the replica is back on another version, new
containers (new IDs, new images) are created. So the engine shows the upgrade replacing one
replica at a time, and `history()` is the evidence of every replacement.

The containers only sleep: the lab's replicas still serve the API from the lab's process, the
containers carry what the engine-side checks read (names, labels, environment, a shell for
testinfra).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import docker.errors
import requests

from dtrlab.cluster import Cluster
from dtrlab.component_images import SERVICES, services_for
from dtrlab.engine.settings import (
    COMPOSE_PROJECT_LABEL,
    LAB_LABEL,
    REPLICA_LABEL,
    VERSION_LABEL,
    EngineError,
    EngineSettings,
)

WATCH_INTERVAL_S = 0.1
JOIN_TIMEOUT_S = 30.0
_ENGINE_ERRORS = (docker.errors.DockerException, requests.RequestException)


def container_name(service: str, replica_id: str) -> str:
    """DTR's name for a replica's service container: `dtr-api-<replica id>`."""
    return f"dtr-{service}-{replica_id}"


@dataclass(frozen=True)
class ContainerRecord:
    """One container of a replica, as created."""

    name: str
    id: str
    image: str
    version: str


@dataclass(frozen=True)
class Replacement:
    """One replica's containers replaced: old ones removed, new ones created.

    `old` is empty for the containers a replica starts with; `removed_at` is when the old ones
    went away (the replica's swap began), `created_at` when the new ones ran.
    """

    replica: str
    from_version: str | None
    to_version: str
    old: tuple[ContainerRecord, ...]
    new: tuple[ContainerRecord, ...]
    removed_at: str | None
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the evidence bundle."""
        return asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ReplicaContainers:
    """Keeps every replica's containers in line with the lab's cluster state.

    `sync()` does one pass (also called by the watcher thread every `interval_s`); `start()`
    creates the initial containers and starts the watcher; `close()` stops it and removes every
    container it created. `errors` keeps what the engine refused, for the evidence.
    """

    def __init__(
        self,
        client: Any,
        settings: EngineSettings,
        cluster: Cluster,
        lab_id: str,
        *,
        interval_s: float = WATCH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._settings = settings
        self._cluster = cluster
        self.lab_id = lab_id
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: dict[str, tuple[str, tuple[ContainerRecord, ...]]] = {}
        self._down: dict[str, tuple[str, tuple[ContainerRecord, ...], str]] = {}
        self._history: list[Replacement] = []
        self.errors: list[str] = []
        self._pool = ThreadPoolExecutor(len(SERVICES), thread_name_prefix=f"dtrlab-{lab_id}")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ReplicaContainers:
        """Create every replica's containers (raises EngineError if that fails), then watch."""
        self.sync()
        if self.errors:
            self.close()
            raise EngineError("cannot create the replica containers: " + "; ".join(self.errors))
        self._thread = threading.Thread(
            target=self._watch, name=f"dtrlab-containers-{self.lab_id}", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop watching and remove every container this lab created; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
            self._thread = None
        with self._lock:
            records = [r for _, rs in self._current.values() for r in rs]
            records += [r for _, rs, _ in self._down.values() for r in rs]
            self._current.clear()
            self._down.clear()
            for record in records:
                self._remove_one(record)
        self._pool.shutdown(wait=True)

    def _watch(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sync()

    # -- reconciling -------------------------------------------------------------------------

    def sync(self) -> None:
        """One pass: remove the containers of replicas being swapped, (re)create the others'."""
        with self._lock:
            if self._stop.is_set():
                return
            # Read under our lock: a pass acting on a snapshot older than the previous pass's
            # would take a replica that is back up for one still being swapped.
            with self._cluster.lock:
                states = [(r.id, r.state, r.version) for r in self._cluster.replica_list()]
            for replica_id, state, version in states:
                try:
                    self._reconcile(replica_id, state, version)
                except EngineError as exc:
                    message = f"replica {replica_id}: {exc}"
                    if message not in self.errors:
                        self.errors.append(message)

    def _reconcile(self, replica_id: str, state: str, version: str) -> None:
        current = self._current.get(replica_id)
        if state == "swapping":
            if current is not None:
                self._remove(current[1])
                del self._current[replica_id]
                self._down[replica_id] = (current[0], current[1], _now())
            return
        if current is not None and current[0] == version:
            return
        if current is not None:
            self._remove(current[1])
            del self._current[replica_id]
            removed: tuple[str | None, tuple[ContainerRecord, ...], str | None] = (
                current[0],
                current[1],
                _now(),
            )
        elif replica_id in self._down:
            removed = self._down[replica_id]
        else:
            removed = (None, (), None)
        new = self._create_all(replica_id, version)
        self._down.pop(replica_id, None)
        self._current[replica_id] = (version, new)
        self._history.append(
            Replacement(replica_id, removed[0], version, removed[1], new, removed[2], _now())
        )

    def _remove(self, records: tuple[ContainerRecord, ...]) -> None:
        # In parallel: one by one, a replica's containers take seconds to replace on two cores,
        # and the engine would then lag the lab's swap by that much.
        outcomes = list(self._pool.map(self._remove_one, records))
        problems = [o for o in outcomes if o]
        if problems:
            raise EngineError("; ".join(problems))

    def _remove_one(self, record: ContainerRecord) -> str | None:
        try:
            self._client.api.remove_container(record.id, force=True)
        except docker.errors.NotFound:
            return None
        except _ENGINE_ERRORS as exc:
            return f"cannot remove {record.name}: {exc}"
        return None

    def _create_all(self, replica_id: str, version: str) -> tuple[ContainerRecord, ...]:
        services = services_for(version)
        for service in services:
            self._image(self._settings.service_image(service, version))
        futures = [
            self._pool.submit(self._create, replica_id, service, version) for service in services
        ]
        created: list[ContainerRecord] = []
        problems: list[str] = []
        for future in futures:
            try:
                created.append(future.result())
            except EngineError as exc:
                problems.append(str(exc))
        if problems:
            # Half a replica is worse than none: the next pass creates them all again.
            for record in created:
                self._remove_one(record)
            raise EngineError("; ".join(problems))
        return tuple(created)

    def _image(self, reference: str) -> None:
        try:
            self._client.images.get(reference)
            return
        except docker.errors.ImageNotFound:
            pass
        except _ENGINE_ERRORS as exc:
            raise EngineError(f"cannot inspect {reference}: {exc}") from None
        repository, tag = reference.rsplit(":", 1)
        try:
            self._client.images.pull(repository, tag=tag)
        except _ENGINE_ERRORS as exc:
            raise EngineError(
                f"{reference} is neither on the engine nor pullable ({exc}); publish it with "
                f"`python -m dtrlab.engine images --versions {tag}`"
            ) from None

    def _labels(self, replica_id: str, version: str) -> dict[str, str]:
        """DTR's labels; with `no-version-label` the two DTR labels are empty (the image's
        own label is overridden) and only `com.docker.compose.project` carries the version,
        in the form launchpad's pkg/msr/msr.go reads (4th word; replica ID last, before `)`)."""
        labels = {VERSION_LABEL: version, REPLICA_LABEL: replica_id, LAB_LABEL: self.lab_id}
        if self._cluster.config.has("no-version-label"):
            labels[VERSION_LABEL] = labels[REPLICA_LABEL] = ""
            project = f"Docker Trusted Registry {version} (replica {replica_id})"
            labels[COMPOSE_PROJECT_LABEL] = project
        return labels

    def _create(self, replica_id: str, service: str, version: str) -> ContainerRecord:
        name = container_name(service, replica_id)
        image = self._settings.service_image(service, version)
        with contextlib.suppress(docker.errors.NotFound, *_ENGINE_ERRORS):
            # A container of that name left behind by a crashed lab would block the new one.
            self._client.api.remove_container(name, force=True)
        try:
            container = self._client.containers.run(
                image,
                entrypoint=["sleep"],
                command=["infinity"],
                name=name,
                hostname=name,
                detach=True,
                labels=self._labels(replica_id, version),
                environment={"DTR_VERSION": version, "DTR_REPLICA_ID": replica_id},
                # `sleep` ignores SIGTERM as PID 1; the lab's containers hold no state.
                stop_signal="SIGKILL",
                network_mode="none",
            )
        except _ENGINE_ERRORS as exc:
            raise EngineError(f"cannot run {name} from {image}: {exc}") from None
        return ContainerRecord(name, str(container.id), image, version)

    # -- what happened -----------------------------------------------------------------------

    def current(self) -> dict[str, tuple[ContainerRecord, ...]]:
        """Replica ID -> its containers now (a replica being swapped has none)."""
        with self._lock:
            return {rid: records for rid, (_, records) in self._current.items()}

    def history(self) -> list[Replacement]:
        """Every creation and replacement so far, oldest first."""
        with self._lock:
            return list(self._history)

    def evidence(self) -> dict[str, Any]:
        """The engine-side record of the lab: containers now, replacements, errors."""
        self.sync()
        return {
            "engine": self._settings.docker_host,
            "registry": self._settings.registry,
            "containers": {
                rid: [asdict(r) for r in records] for rid, records in self.current().items()
            },
            "replacements": [r.as_dict() for r in self.history()],
            "errors": list(self.errors),
        }
