"""`EngineLab`: the lab with its replicas running as containers on a real Docker engine.

The API, UCP and the load balancer are served by the lab's process as always; in addition
every replica has its DTR containers on the engine (see `dtrlab.engine.replicas`), the
bootstrapper of each version is an image in the lab's registry (`bootstrapper_image`), and the
upgrade is run by pulling that image and running it on the engine. The bootstrapper container
reaches the lab's UCP on 127.0.0.1, so it runs with the host's network (`BOOTSTRAPPER_NETWORK`).
"""

from __future__ import annotations

from typing import Any, Self

from dtrlab.config import LabConfig
from dtrlab.engine.settings import EngineError, EngineSettings
from dtrlab.lab import Lab

BOOTSTRAPPER_NETWORK = "host"
CLIENT_TIMEOUT_S = 120


class EngineLab(Lab):
    """A `Lab` whose replicas are also containers on the engine `settings.docker_host`.

    Starting it checks that the engine answers and that the images of the versions the
    replicas start on are there (pulled from the lab's registry otherwise), so a missing engine
    fails at once with what to run (`scripts/engine-up`).
    """

    def __init__(
        self, config: LabConfig | None = None, settings: EngineSettings | None = None
    ) -> None:
        super().__init__(config)
        self.engine = settings or EngineSettings.from_env()
        self._client: Any = None
        self.replica_containers: Any = None

    def bootstrapper_image(self, version: str) -> str:
        """The bootstrapper image of `version` in the lab's registry."""
        return self.engine.bootstrapper_image(version)

    def start(self) -> Self:
        """Start the lab's listeners, then the replicas' containers."""
        if self._started:
            return self
        super().start()
        try:
            self._start_containers()
        except BaseException:
            self.close()
            raise
        return self

    def _start_containers(self) -> None:
        import docker
        import docker.errors
        import requests

        from dtrlab.engine.daemon import engine_version
        from dtrlab.engine.replicas import ReplicaContainers

        if engine_version(self.engine.docker_host) is None:
            raise EngineError(
                f"no Docker engine answers at {self.engine.docker_host}; start it and publish "
                "the lab's images with scripts/engine-up (as root), or set DOCKER_HOST"
            )
        try:
            self._client = docker.DockerClient(
                base_url=self.engine.docker_host, timeout=CLIENT_TIMEOUT_S
            )
            self._client.ping()
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineError(
                f"no Docker engine answers at {self.engine.docker_host} ({exc}); start it and "
                "publish the lab's images with scripts/engine-up, and export DOCKER_HOST"
            ) from None
        lab_id = self.directory.name
        self.replica_containers = ReplicaContainers(
            self._client, self.engine, self.cluster, lab_id
        ).start()
        # A replica back from its swap serves only once its new containers exist, so the
        # container checks never see a replica without them (a real DTR has no such gap).
        self.cluster.before_serving.append(self.replica_containers.sync)

    def engine_evidence(self) -> dict[str, Any]:
        """Containers now, every replacement with old and new IDs and images, engine errors."""
        if self.replica_containers is None:
            return {"engine": self.engine.docker_host, "containers": {}, "replacements": []}
        evidence: dict[str, Any] = self.replica_containers.evidence()
        return evidence

    def close(self) -> None:
        """Remove the replicas' containers, close the engine client, stop the lab."""
        try:
            if self.replica_containers is not None:
                self.replica_containers.close()
                self.replica_containers = None
            if self._client is not None:
                self._client.close()
                self._client = None
        finally:
            super().close()
