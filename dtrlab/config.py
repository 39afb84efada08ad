"""The lab's configuration and the credentials it accepts."""

from __future__ import annotations

import os
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from dtrlab.catalogue import is_known, parse_version
from dtrlab.errors import LabConfigError
from dtrlab.scenarios import parse_scenarios

_REPLICA_ID = re.compile(r"[0-9a-f]{12}")


@dataclass(frozen=True)
class LabConfig:
    """How to build a lab. Durations are seconds; every default suits an interactive lab.

    `repositories` None means a handful of demo repositories; an int generates that many
    repositories with `tags_per_repo` tags each (manifests computed on first use). Credentials
    left None come from DTR_USERNAME / DTR_PASSWORD / DTR_TOKEN / UCP_USERNAME / UCP_PASSWORD
    when set, otherwise `admin` and generated secrets.
    """

    replicas: int = 3
    version: str = "2.5.11"
    ucp_version: str = "3.1.6"
    scenarios: tuple[str, ...] = ("healthy",)
    swap_time: float = 1.0
    outage: float = 0.0
    repositories: int | None = None
    tags_per_repo: int = 5
    username: str | None = None
    password: str | None = None
    token: str | None = None
    ucp_username: str | None = None
    ucp_password: str | None = None
    port: int = 0
    job_time: float = 0.5
    slow_replica_time: float = 20.0
    long_outage_time: float = 8.0
    mixed_version: str | None = None
    stale_backup_days: float = 30.0
    # How long the bootstrapper's `backup` takes to print its archive (`backup-slow`).
    backup_slow_time: float = 10.0
    # Registry bearer tokens: distribution's default is 60 s when `expires_in` is absent and
    # real upgrades take minutes (fidelity-review.md 1); a short lifetime shows the renewal.
    token_lifetime: float = 300.0
    # Listings may serve fewer items than pageSize and still carry X-Next-Page-Start ("filtered
    # to only those repositories visible to the client", fidelity-review.md 14); 0 = no cap.
    max_page_items: int = 0
    # The replicas' IDs, in order (the cluster a baseline was taken from); new random ones for
    # replicas beyond them. DTR's replica IDs are 12 hex characters (dtr-facts.md 2).
    replica_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "scenarios", parse_scenarios(self.scenarios))
        if self.replicas < 1:
            raise LabConfigError(f"replicas must be at least 1, not {self.replicas}")
        for name in ("version", "ucp_version"):
            parse_version(getattr(self, name))
        if not is_known(self.version):
            raise LabConfigError(f"DTR version {self.version} is not a release the lab knows")
        if self.mixed_version is not None:
            parse_version(self.mixed_version)
        for name in (
            "swap_time",
            "outage",
            "job_time",
            "slow_replica_time",
            "long_outage_time",
            "backup_slow_time",
        ):
            if getattr(self, name) < 0:
                raise LabConfigError(f"{name} must not be negative")
        if self.repositories is not None and self.repositories < 0:
            raise LabConfigError("repositories must not be negative")
        if not self.token_lifetime > 0:
            raise LabConfigError(f"token_lifetime must be positive, not {self.token_lifetime}")
        if self.max_page_items < 0:
            raise LabConfigError("max_page_items must not be negative")
        bad = [rid for rid in self.replica_ids if not _REPLICA_ID.fullmatch(rid)]
        if bad or len(set(self.replica_ids)) != len(self.replica_ids):
            raise LabConfigError(
                "replica_ids must be distinct 12-hex-character IDs, not "
                f"{', '.join(bad) or 'repeats'}"
            )
        if self.tags_per_repo < 1:
            raise LabConfigError("tags_per_repo must be at least 1")
        if not 0 <= self.port < 65536:
            raise LabConfigError(f"port {self.port} is not a TCP port")

    def has(self, scenario: str) -> bool:
        """True when `scenario` is one of this lab's scenarios."""
        return scenario in self.scenarios

    @property
    def effective_outage(self) -> float:
        """The cluster-wide interruption during an upgrade (long-outage raises it)."""
        return max(self.outage, self.long_outage_time) if self.has("long-outage") else self.outage


@dataclass(frozen=True)
class Credentials:
    """DTR and UCP credentials the lab accepts. The repr never shows a secret."""

    username: str
    password: str = field(repr=False)
    token: str = field(repr=False)
    ucp_username: str
    ucp_password: str = field(repr=False)

    @classmethod
    def resolve(cls, config: LabConfig, environ: dict[str, str] | None = None) -> Credentials:
        """Config values first, then the environment, then `admin` and generated secrets."""
        env: Any = os.environ if environ is None else environ
        username = config.username or env.get("DTR_USERNAME") or "admin"
        password = config.password or env.get("DTR_PASSWORD") or secrets.token_urlsafe(18)
        # DTR authenticates against UCP, so by default the UCP admin is the DTR admin.
        return cls(
            username=username,
            password=password,
            token=config.token or env.get("DTR_TOKEN") or str(uuid.uuid4()),
            ucp_username=config.ucp_username or env.get("UCP_USERNAME") or username,
            ucp_password=config.ucp_password or env.get("UCP_PASSWORD") or password,
        )

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for scrubbing."""
        return (self.password, self.token, self.ucp_password)
