"""`--data-proof full|sample:N|off` and `--data-proof-seed`: how much of the data plane to prove."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from upgrade.config.values import SettingsError

__all__ = ["DEFAULT_PROOF", "DEFAULT_SAMPLE", "ProofMode", "parse_proof_mode", "parse_seed"]

DEFAULT_SAMPLE = 1000
MAX_SEED = 2**63 - 1
_SAMPLE = re.compile(r"sample:([0-9]{1,9})")


@dataclass(frozen=True)
class ProofMode:
    """`full` (every manifest), `sample` (`size` manifests drawn with a seed) or `off`."""

    kind: Literal["full", "sample", "off"]
    size: int = 0

    def __str__(self) -> str:
        return f"sample:{self.size}" if self.kind == "sample" else self.kind


DEFAULT_PROOF = ProofMode("sample", DEFAULT_SAMPLE)


def parse_proof_mode(value: str | None) -> ProofMode:
    """`full`, `sample:N` (N >= 1) or `off`; None is the default `sample:1000`."""
    if value is None:
        return DEFAULT_PROOF
    text = value.strip().lower()
    if text in ("full", "off"):
        return ProofMode("full" if text == "full" else "off")
    match = _SAMPLE.fullmatch(text)
    if match and int(match.group(1)) >= 1:
        return ProofMode("sample", int(match.group(1)))
    raise SettingsError(
        f"--data-proof {value!r}: expected full, sample:N (N manifests, at least 1) or off"
    )


def parse_seed(value: str | None) -> int | None:
    """`--data-proof-seed`: a whole number from 0 to 2**63-1, or None (a new seed per session)."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or int(text) > MAX_SEED:
        raise SettingsError(
            f"--data-proof-seed {value!r}: expected a whole number from 0 to {MAX_SEED} "
            "(the seed a previous proof's evidence shows)"
        )
    return int(text)
