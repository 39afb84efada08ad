"""The data proof in a session: its seed, its file in the bundle, and preflight's proof for post.

Preflight proves the baseline's tags and writes `data-proof-preflight.json` (every failure, the
mode and the seed) next to `baseline.json`. Post proves the same tags of the baseline with the
same mode and seed, so it checks the same sample, and sorts its failures against that file: in
the session's own bundle, or with `--phase=post` beside the `--baseline` file given.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from upgrade.clients.registry import RegistryClient
from upgrade.cluster.baseline import Baseline
from upgrade.cluster.dataproof import Comparison, ProofResult, compare, covered_tags
from upgrade.cluster.dataproof_run import DEFAULT_PROCESSES, prove
from upgrade.config.proof_mode import ProofMode, parse_proof_mode
from upgrade.config.settings import Settings
from upgrade.config.values import SettingsError
from upgrade.errors import HarnessError
from upgrade.evidence.files import atomic_write

__all__ = [
    "POST_FILE",
    "PREFLIGHT_FILE",
    "Before",
    "PostProof",
    "before_of",
    "post",
    "preflight",
    "run",
    "sort_failures",
]

PREFLIGHT_FILE = "data-proof-preflight.json"
POST_FILE = "data-proof-post.json"

Inventory = Mapping[str, Mapping[str, str]]


class Before:
    """Preflight's proof as post reads it back: its failures, mode and seed."""

    def __init__(self, proof: ProofResult, mode: ProofMode, path: Path) -> None:
        self.proof = proof
        self.mode = mode
        self.path = path
        # How the evidence names the file: by its place after sealing, never a staging folder.
        self.shown = str(path)


def new_seed() -> int:
    """A fresh seed for a session that was given none (shown in the evidence)."""
    return secrets.randbits(63)


def before_of(folder: Path) -> Before | None:
    """Preflight's proof in `folder` (a bundle), or None when that session did not prove."""
    path = folder / PREFLIGHT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        proof = ProofResult.from_dict(data)
        mode = parse_proof_mode(proof.mode)
    except (OSError, ValueError, KeyError, TypeError, SettingsError) as error:
        raise HarnessError(
            f"{path} cannot be read as a data proof ({type(error).__name__}: {error}); give the "
            "--baseline of an unmodified preflight bundle, or --data-proof=off"
        ) from None
    return Before(proof, mode, path)


def run(
    registry: RegistryClient,
    inventory: Inventory,
    mode: ProofMode,
    seed: int | None,
    path: Path,
    say: Callable[[str], None],
    problems: list[str],
) -> ProofResult:
    """Prove `inventory` (`seed`, or a new one) and write the whole result to `path`.

    The result judges the check whether or not its file could be written: a write failure (a
    full disk) is lost evidence, added to `problems` (the bundle's), and leaves no half file."""
    chosen_seed = new_seed() if seed is None else seed
    result = prove(
        registry, inventory, mode, chosen_seed, processes=DEFAULT_PROCESSES, progress=say
    )
    text = json.dumps(result.as_dict(), indent=1) + "\n"
    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        problems.append(f"{path.name}: not written ({exc.strerror or exc}); the proof was judged")
    return result


def sort_failures(before: Before | None, after: ProofResult, inventory: Inventory) -> Comparison:
    """Post's failures sorted by what preflight's proof of the same baseline saw."""
    if before is None:
        return compare(None, after.failures)
    covered = covered_tags(inventory, before.mode, before.proof.seed)
    return compare(before.proof.failures, after.failures, covered)


@dataclass(frozen=True)
class PostProof:
    """Post's proof, preflight's (None when there was none) and how their failures compare."""

    result: ProofResult
    before: Before | None
    comparison: Comparison


def preflight(
    registry: RegistryClient,
    baseline: Baseline,
    settings: Settings,
    bundle: Path,
    say: Callable[[str], None],
    problems: list[str],
) -> ProofResult | None:
    """Preflight's proof of the baseline's tags (--data-proof, --data-proof-seed), written to
    the bundle (a write failure added to `problems`); None with --data-proof=off."""
    if settings.data_proof.kind == "off":
        return None
    return run(
        registry,
        baseline.inventory,
        settings.data_proof,
        settings.data_proof_seed,
        bundle / PREFLIGHT_FILE,
        say,
        problems,
    )


def post(
    registry: RegistryClient,
    baseline: Baseline,
    settings: Settings,
    bundle: Path,
    say: Callable[[str], None],
    problems: list[str],
    earlier: ProofResult | None = None,
) -> PostProof | None:
    """Post's proof of the baseline's tags, repeating preflight's mode and seed when preflight's
    proof is found (in `bundle`, or beside --baseline with --phase=post; else `earlier`, this
    session's preflight proof whose file was not written); None when off. A write failure of
    post's file is added to `problems`."""
    if settings.data_proof.kind == "off":
        return None
    if settings.mode == "verify" and settings.baseline is not None:
        before = before_of(settings.baseline.parent)
    else:
        # The session's own bundle: still its staging folder, renamed when sealed.
        before = before_of(bundle)
        if before is not None:
            before.shown = f"{PREFLIGHT_FILE} in this bundle"
        elif earlier is not None:
            before = Before(earlier, parse_proof_mode(earlier.mode), bundle / PREFLIGHT_FILE)
            before.shown = f"this session's preflight proof ({PREFLIGHT_FILE} was not written)"
    mode, seed = settings.data_proof, settings.data_proof_seed
    if before is not None:
        mode, seed = before.mode, before.proof.seed
    result = run(registry, baseline.inventory, mode, seed, bundle / POST_FILE, say, problems)
    return PostProof(result, before, sort_failures(before, result, baseline.inventory))
