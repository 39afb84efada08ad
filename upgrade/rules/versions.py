"""DTR versions: parsing, ordering and the way a minor line is written.

A version is MAJOR.MINOR.PATCH with an optional `-suffix`. Two kinds of suffix mean different
things, so the upgrade rules compare releases (`Version.release`), not strings:

- a build suffix, a hex commit id of 7 or more hex digits, names a build OF the release: the
  real DTR 2.7.0 reports `info.version` = `2.7.0-29094adc` (dtr-api/dtr-2.7.0-swagger.json,
  info.version; fidelity-review.md 2), and that DTR is on release 2.7.0;
- any other suffix (`-rc1`, `-beta2`, `-tp3`, `-alpha`: letters beyond hex) is a pre-release,
  which is NOT its release: a replica on 2.6.4-rc1 is not on 2.6.4.

Bootstrapper images are tagged by release (the upgrade guide's `docker run
{{ page.dtr_org }}/{{ page.dtr_repo }}:{{ page.dtr_version }} upgrade`, seed/000_ded7c9e2c6b54ece),
so an image tag uses `Version.plain` (X.Y.Z), never a build or pre-release suffix.
This module imports nothing of the harness.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from upgrade.errors import HarnessError

__all__ = ["Version", "VersionError", "format_line", "target_problem"]


_EXPECTED: Final = "expected MAJOR.MINOR.PATCH with an optional -suffix, e.g. 2.6.4"
# Nine digits at most: enough for any release, and int() never sees a huge digit string.
_NUMBER: Final = r"(0|[1-9][0-9]{0,8})"
_VERSION_RE: Final = re.compile(
    rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?:-([0-9A-Za-z][0-9A-Za-z.-]*))?", re.ASCII
)
# A build suffix: a (short) git commit id, as in the 2.7.0 contract's `2.7.0-29094adc`.
_BUILD_RE: Final = re.compile(r"[0-9a-f]{7,40}", re.ASCII)


class VersionError(HarnessError, ValueError):
    """A version string is not MAJOR.MINOR.PATCH with an optional -suffix.

    A harness error (one line, in the harness's words, when a DTR answers an odd version) and a
    ValueError (as option parsing treats it).

    The message is one line (the bad value is quoted with `repr`, so even a value holding a
    newline prints on one line) and names the expected form.
    """

    def __init__(self, value: object) -> None:
        self.value = value
        super().__init__(f"malformed version {value!r}: {_EXPECTED}")


def target_problem(option: str, version: Version) -> str | None:
    """Why `version` cannot be an upgrade target given as `option`, None when it can.

    A target is a release MAJOR.MINOR.PATCH: bootstrapper images are tagged by release (module
    docstring), so a build suffix names no image, and the catalogue lists no pre-releases.
    """
    if version.is_build:
        return (
            f"{option} {version}: {version} is a build of release {version.plain} (the suffix is "
            f"a commit id; images are tagged by release): give {option} {version.plain}"
        )
    if version.is_prerelease:
        return (
            f"{option} {version}: {version} is a pre-release, not a release (the catalogue lists "
            f"no pre-releases): give a release MAJOR.MINOR.PATCH, e.g. {option} {version.plain} "
            "once it is released"
        )
    return None


def format_line(line: tuple[int, int]) -> str:
    """The usual way to write a minor line: `(2, 6)` -> `"2.6"`."""
    return f"{line[0]}.{line[1]}"


@dataclass(frozen=True, slots=True)
class Version:
    """A DTR version: MAJOR.MINOR.PATCH and an optional suffix (kept without its dash).

    Versions are totally ordered by (major, minor, patch); at equal numbers a suffixed version
    sorts before the plain release (`2.7.0-tp1 < 2.7.0`), and suffixes compare as strings.
    """

    major: int
    minor: int
    patch: int
    suffix: str = ""
    _key: tuple[int, int, int, int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("major", "minor", "patch"):
            number = getattr(self, name)
            if type(number) is not int or number < 0:
                raise VersionError(f"{self.major}.{self.minor}.{self.patch}")
        if type(self.suffix) is not str or (
            self.suffix and not _VERSION_RE.fullmatch(f"0.0.0-{self.suffix}")
        ):
            raise VersionError(f"{self.major}.{self.minor}.{self.patch}-{self.suffix}")
        key = (self.major, self.minor, self.patch, 0 if self.suffix else 1, self.suffix)
        object.__setattr__(self, "_key", key)

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse `2.6.4` or `2.7.0-29094adc`; anything else raises `VersionError`.

        Surrounding whitespace, a leading `v`, leading zeros and missing parts are all refused,
        so `str(Version.parse(text)) == text` for every accepted text.
        """
        if not isinstance(text, str):
            raise VersionError(text)
        match = _VERSION_RE.fullmatch(text)
        if match is None:
            raise VersionError(text)
        major, minor, patch, suffix = match.groups()
        return cls(int(major), int(minor), int(patch), suffix or "")

    @classmethod
    def coerce(cls, value: Version | str) -> Version:
        """Return `value` itself if it is a `Version`, else parse it."""
        return value if isinstance(value, Version) else cls.parse(value)

    @property
    def minor_line(self) -> tuple[int, int]:
        """The (major, minor) line this version belongs to, e.g. `(2, 6)` for 2.6.4."""
        return (self.major, self.minor)

    @property
    def is_build(self) -> bool:
        """True for a build suffix (a hex commit id, `2.7.0-29094adc`): a build of the release."""
        return bool(self.suffix) and _BUILD_RE.fullmatch(self.suffix) is not None

    @property
    def is_prerelease(self) -> bool:
        """True for any other suffix (`2.6.4-rc1`, `2.7.0-tp1`): not the release itself."""
        return bool(self.suffix) and not self.is_build

    @property
    def plain(self) -> Version:
        """MAJOR.MINOR.PATCH without any suffix: the tag of the bootstrapper image."""
        return Version(self.major, self.minor, self.patch) if self.suffix else self

    @property
    def release(self) -> Version:
        """The release this version is: the plain release for a build (`2.7.0-29094adc` is
        2.7.0), the version itself otherwise (a pre-release `2.6.4-rc1` is not 2.6.4)."""
        return self.plain if self.is_build else self

    def __str__(self) -> str:
        plain = f"{self.major}.{self.minor}.{self.patch}"
        return f"{plain}-{self.suffix}" if self.suffix else plain

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key < other._key

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key <= other._key

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key > other._key

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key >= other._key
