"""A --phase=post session's --baseline: a baseline file, as its preflight bundle sealed it.

A post session judges the upgrade against the baseline, so an edited one (a repository deleted
from it, say) would hide the upgrade's damage. The bundle's `SHA256SUMS`, written when the
preflight sealed it (`upgrade.evidence.integrity`), must list the file with its SHA-256, and so
must the preflight's data proof beside it, which post reads too. The sums show that nothing
changed since sealing; only a signature (`dtr-upgrade verify-bundle --allowed-signers`) shows who
sealed it.
"""

from __future__ import annotations

from pathlib import Path

from upgrade.cluster.baseline import BaselineError, load
from upgrade.cluster.dataproof_record import PREFLIGHT_FILE
from upgrade.evidence import integrity
from upgrade.evidence.files import sha256_file

__all__ = ["check_sealed"]


def check_sealed(path: Path) -> None:
    """Raise `BaselineError` (one line naming the file and what to pass instead) unless `path`
    is a baseline file whose bundle's `SHA256SUMS` lists it, and preflight's data proof beside
    it, unchanged."""
    load(path)
    bundle = path.parent
    sums_path = bundle / integrity.SUMS_NAME
    fix = (
        f"pass the {path.name} of its sealed preflight bundle, unchanged and beside that "
        f"bundle's {integrity.SUMS_NAME}"
    )
    if not sums_path.is_file():
        raise BaselineError(
            f"--baseline {path}: no {integrity.SUMS_NAME} beside it, so nothing shows it is the "
            f"baseline a preflight recorded; {fix}"
        )
    try:
        sums = integrity.read_sums(sums_path)
    except integrity.IntegrityError as exc:
        raise BaselineError(f"--baseline {path}: {exc}; {fix}") from None
    for name in (path.name, PREFLIGHT_FILE):
        file = bundle / name
        if name not in sums and not file.exists():
            continue  # a preflight with --data-proof=off wrote no proof
        if name not in sums:
            problem = f"{name} is not listed in {sums_path}"
        elif not file.is_file():
            problem = f"{name} is listed in {sums_path} but missing"
        elif sha256_file(file) != sums[name]:
            problem = f"{name} changed since the preflight sealed its bundle"
        else:
            continue
        raise BaselineError(
            f"--baseline {path}: {problem} (`dtr-upgrade verify-bundle {bundle}` lists every "
            f"change); {fix}"
        )
