"""DTR versions: parsing, ordering and the way a minor line is written.

A version is MAJOR.MINOR.PATCH with an optional `-suffix` (`2.7.0-29094adc`, `2.6.0-tp1`). The
suffix is kept and orders a build before its plain release, but the upgrade rules compare
releases (`Version.release`): every build of a release is that release (`upgrade.rules.evaluate`).
This module imports nothing of the harness.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from upgrade.errors import HarnessError

__all__ = ["Version", "VersionError", "format_line"]


_EXPECTED: Final = "expected MAJOR.MINOR.PATCH with an optional -suffix, e.g. 2.6.4"
# Nine digits at most: enough for any release, and int() never sees a huge digit string.
_NUMBER: Final = r"(0|[1-9][0-9]{0,8})"
_VERSION_RE: Final = re.compile(
    rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?:-([0-9A-Za-z][0-9A-Za-z.-]*))?", re.ASCII
)


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


def format_line(line: tuple[int, int]) -> str:
    """The usual way to write a minor line: `(2, 6)` -> `"2.6"`."""
    return f"{line[0]}.{line[1]}"


@dataclass(frozen=True, slots=True)
class Version:
    """A DTR version: MAJOR.MINOR.PATCH and an optional suffix (kept without its dash).

    Versions are totally ordered by (major, minor, patch); at equal numbers a suffixed build
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
    def release(self) -> Version:
        """The plain release this version is a build of (itself when it has no suffix)."""
        return Version(self.major, self.minor, self.patch) if self.suffix else self

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
