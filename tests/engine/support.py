"""What the engine-tier tests share: the versions the lab's images are published for."""

from __future__ import annotations

FROM_VERSION = "2.5.11"
TO_VERSION = "2.6.4"
