"""Signing a bundle's sums with an SSH key, and checking such a signature, by `ssh-keygen -Y`.

The signature is an SSH signature in the namespace `dtr-upgrade-bundle` (OpenSSH 8.2 or later),
which anyone can check with the ordinary `ssh-keygen -Y verify` given the signer's public key
or an allowed-signers file; the harness runs the same commands.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from upgrade.errors import HarnessError, one_line

__all__ = [
    "NAMESPACE",
    "SigningError",
    "require_key_file",
    "sign",
    "verify_signature",
]

NAMESPACE: Final = "dtr-upgrade-bundle"
# The principal named in the temporary allowed-signers file made from a bare public key.
KEY_PRINCIPAL: Final = "bundle-signer"
SSH_KEYGEN_TIMEOUT_S: Final = 30.0


class SigningError(HarnessError):
    """`ssh-keygen` could not sign or verify; the message says what it answered."""


def _ssh_keygen() -> str:
    program = shutil.which("ssh-keygen")
    if program is None:
        raise SigningError(
            "ssh-keygen is not installed: install OpenSSH 8.2 or later (Debian: openssh-client) "
            "to sign or verify bundles"
        )
    return program


def _run_keygen(
    argv: Sequence[str], *, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            [_ssh_keygen(), *argv],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=SSH_KEYGEN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SigningError(
            f"ssh-keygen {argv[0]} {argv[1]} did not finish within {SSH_KEYGEN_TIMEOUT_S:g} s "
            "(a key with a passphrase needs ssh-agent)"
        ) from None


def _said(proc: subprocess.CompletedProcess[bytes]) -> str:
    text = (proc.stderr or proc.stdout or b"").decode("utf-8", "replace")
    return one_line(text) or f"exit status {proc.returncode}"


def require_key_file(key: Path) -> None:
    """Refuse a `--sign-key` that is not a file, or a machine without ssh-keygen."""
    if not key.is_file():
        raise SigningError(f"--sign-key {key}: no such file (give an SSH private key file)")
    _ssh_keygen()


def sign(sums_path: Path, key: Path) -> Path:
    """Sign `sums_path` with the SSH key `key` (`ssh-keygen -Y sign`); return the signature,
    `<sums_path>.sig` (SHA256SUMS.sig for a bundle's sums)."""
    require_key_file(key)
    produced = sums_path.with_name(sums_path.name + ".sig")
    if produced.exists():
        produced.unlink()
    proc = _run_keygen(["-Y", "sign", "-f", str(key), "-n", NAMESPACE, str(sums_path)])
    if proc.returncode != 0 or not produced.is_file():
        raise SigningError(f"ssh-keygen could not sign {sums_path.name} with {key}: {_said(proc)}")
    return produced


def _principals(signature: Path, allowed_signers: Path) -> list[str]:
    proc = _run_keygen(["-Y", "find-principals", "-s", str(signature), "-f", str(allowed_signers)])
    if proc.returncode != 0:
        return []
    return [line.strip() for line in proc.stdout.decode("utf-8", "replace").splitlines() if line]


def verify_signature(
    sums_path: Path,
    signature: Path,
    *,
    allowed_signers: Path | None = None,
    public_key: Path | None = None,
) -> tuple[bool, str]:
    """Check `signature` over `sums_path` with `ssh-keygen -Y verify`; return (valid, detail).

    With `public_key`, that one key is the only allowed signer; with `allowed_signers` (the
    OpenSSH file format), the signer must be listed there for the namespace.
    """
    for given, option in ((allowed_signers, "--allowed-signers"), (public_key, "--public-key")):
        if given is not None and not given.is_file():
            raise SigningError(f"{option} {given}: no such file")
    data = sums_path.read_bytes()
    with tempfile.TemporaryDirectory(prefix="dtr-upgrade-verify-") as scratch:
        signers = allowed_signers
        if signers is None:
            assert public_key is not None
            key = public_key.read_text(encoding="utf-8").strip().splitlines()
            if not key:
                raise SigningError(f"--public-key {public_key}: the file is empty")
            signers = Path(scratch, "allowed_signers")
            signers.write_text(
                f'{KEY_PRINCIPAL} namespaces="{NAMESPACE}" {key[0]}\n', encoding="utf-8"
            )
        principals = _principals(signature, signers)
        if not principals:
            return False, "the signing key is not an allowed signer"
        for principal in principals:
            proc = _run_keygen(
                [
                    "-Y",
                    "verify",
                    "-f",
                    str(signers),
                    "-I",
                    principal,
                    "-n",
                    NAMESPACE,
                    "-s",
                    str(signature),
                ],
                stdin=data,
            )
            if proc.returncode == 0:
                return True, one_line(proc.stdout.decode("utf-8", "replace")) or principal
        return False, _said(proc)
