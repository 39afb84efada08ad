"""What the lab knows about DTR releases: versions, UCP pairings and per-hop migrations.

Kept small and local on purpose: the simulated bootstrapper refuses a version that is not here,
as a real `docker run docker/dtr:<version>` fails for an image that was never released.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from dtrlab.errors import LabConfigError

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$")


class Release(NamedTuple):
    """A parsed MAJOR.MINOR.PATCH[-suffix] version; the suffix does not take part in ordering."""

    major: int
    minor: int
    patch: int

    @property
    def line(self) -> tuple[int, int]:
        """(major, minor)."""
        return (self.major, self.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def parse_version(text: str) -> Release:
    """Parse `2.6.4` or `2.7.0-29094adc`; raise LabConfigError naming the expected form."""
    match = _VERSION.match(text.strip())
    if not match:
        raise LabConfigError(
            f"version {text!r} is not MAJOR.MINOR.PATCH[-suffix] (for example 2.5.11)"
        )
    return Release(int(match[1]), int(match[2]), int(match[3]))


def _patches(major: int, minor: int, patches: range | tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"{major}.{minor}.{p}" for p in patches)


# Releases the sources confirm (dtr-facts 5.2): 2.5.4 was never published, and only some 2.6
# and 2.7 patches are on record.
KNOWN_VERSIONS: tuple[str, ...] = (
    *_patches(2, 3, range(12)),
    *_patches(2, 4, range(13)),
    *_patches(2, 5, (0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11)),
    *_patches(2, 6, (0, 1, 2, 3, 4, 5, 6, 15)),
    *_patches(2, 7, (0, 1, 5, 8)),
    *_patches(2, 8, range(14)),
    *_patches(2, 9, range(31)),
    *_patches(2, 10, range(4)),
)

# The UCP (MKE) minor each DTR minor ships with in its Docker Enterprise bundle.
UCP_PAIRING: dict[tuple[int, int], tuple[int, int]] = {
    (2, 3): (2, 2),
    (2, 4): (2, 2),
    (2, 5): (3, 0),
    (2, 6): (3, 1),
    (2, 7): (3, 2),
    (2, 8): (3, 3),
    (2, 9): (3, 4),
    (2, 10): (3, 6),
}

# A UCP release of each UCP minor, used when the lab must report a UCP that is one minor too old.
UCP_RELEASE: dict[tuple[int, int], str] = {
    (2, 2): "2.2.17",
    (3, 0): "3.0.7",
    (3, 1): "3.1.6",
    (3, 2): "3.2.6",
    (3, 3): "3.3.7",
    (3, 4): "3.4.0",
    (3, 6): "3.6.0",
}

# Data migrations the bootstrapper queues as jobs after a successful upgrade into a minor.
HOP_MIGRATIONS: dict[tuple[int, int], tuple[str, ...]] = {
    (2, 5): ("scannedlayermigration",),
    (2, 6): ("metadatastoremigration",),
}


def is_known(version: str) -> bool:
    """True when `version` (suffix ignored) is a release the lab knows."""
    try:
        return str(parse_version(version)) in KNOWN_VERSIONS
    except LabConfigError:
        return False


def newest_of_line(line: tuple[int, int]) -> str | None:
    """The newest known release of MAJOR.MINOR `line`, or None."""
    versions = [parse_version(v) for v in KNOWN_VERSIONS if parse_version(v).line == line]
    return str(max(versions)) if versions else None


def next_line(version: str) -> tuple[int, int]:
    """The minor line an upgrade from `version` goes to."""
    release = parse_version(version)
    return (release.major, release.minor + 1)


def ucp_too_old_for_next_minor(version: str) -> str:
    """A UCP version that suits DTR `version` but is too old for DTR's next minor."""
    release = parse_version(version)
    paired = UCP_PAIRING.get(release.line)
    if paired is None or paired not in UCP_RELEASE:
        raise LabConfigError(f"the lab has no UCP pairing for DTR {version}")
    return UCP_RELEASE[paired]
