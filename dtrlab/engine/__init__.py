"""The lab on a real Docker engine: dockerd, the distribution registry, images and replicas.

- `dtrlab.engine.daemon` starts (or finds) a `dockerd` and a distribution registry
  (`docker-registry serve`) on this machine, with bounded waits;
- `dtrlab.engine.images` builds the lab's images from a Debian root file system
  (`debootstrap`, `docker import`), tags them as DTR's (`<registry>/docker/dtr:<version>`,
  `<registry>/docker/dtr-api:<version>`, ...) and pushes them;
- `dtrlab.engine.replicas` keeps one container per DTR service of every replica
  (`dtr-api-<replica id>`, ...), replacing a replica's containers when the lab swaps it;
- `dtrlab.engine.lab.EngineLab` is the lab with its replicas on the engine.

`python -m dtrlab.engine up` (or `scripts/engine-up`) prepares all of it. Nothing here is
imported by `dtrlab` itself, so the in-process lab does not need the docker SDK.
"""

from __future__ import annotations

from dtrlab.component_images import SERVICES
from dtrlab.engine.settings import (
    DEFAULT_REGISTRY,
    DEFAULT_SOCKET,
    EngineError,
    EngineSettings,
)

__all__ = ["DEFAULT_REGISTRY", "DEFAULT_SOCKET", "SERVICES", "EngineError", "EngineSettings"]
