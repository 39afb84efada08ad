"""Integrity of an evidence bundle: redaction pass, SHA256SUMS, optional SSH signature, verify.

Sealing a bundle (`seal`) runs three steps in this order, so the sums cover what is published:

1. every file is scrubbed of known secret values (and their encoded forms);
2. `SHA256SUMS` lists the SHA-256 of every other file, in the format `sha256sum -c` reads
   (`<hex>  <relative path>`, sorted by path);
3. with a key, `SHA256SUMS` is signed into `SHA256SUMS.sig` (`upgrade.evidence.signing`: an
   SSH signature anyone can check with the ordinary `ssh-keygen -Y verify`).

`verify` recomputes the sums and reports each file that changed, appeared or disappeared, and
checks the signature when an allowed-signers file or a public key is given.
"""

from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from upgrade.clients.secrets import Redactor
from upgrade.errors import HarnessError, one_line
from upgrade.evidence.files import atomic_write, sha256_file
from upgrade.evidence.signing import SigningError, require_key_file, sign, verify_signature

__all__ = [
    "SIGNATURE_NAME",
    "SUMS_NAME",
    "IntegrityError",
    "Seal",
    "SigningError",
    "Verification",
    "bundle_files",
    "check_sign_key",
    "environment_redactor",
    "read_sums",
    "redact_files",
    "seal",
    "verify",
    "write_sums",
]

SUMS_NAME: Final = "SHA256SUMS"
SIGNATURE_NAME: Final = "SHA256SUMS.sig"

SignatureState = Literal["absent", "not-checked", "valid", "invalid"]


class IntegrityError(HarnessError):
    """A bundle or its sums cannot be read or written; the message names the file."""


def bundle_files(directory: Path) -> list[str]:
    """Every regular file under `directory` except the sums and signature, as sorted
    POSIX paths relative to it."""
    if not directory.is_dir():
        raise IntegrityError(f"{directory}: no such bundle directory")
    names = []
    for path in directory.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        relative = path.relative_to(directory).as_posix()
        if relative in (SUMS_NAME, SIGNATURE_NAME):
            continue
        if "\n" in relative or "\\" in relative:
            raise IntegrityError(
                f"{directory}: file name {relative!r} cannot be listed in {SUMS_NAME}; rename it"
            )
        names.append(relative)
    return sorted(names)


def compute_sums(directory: Path) -> dict[str, str]:
    """The SHA-256 of every bundle file, by relative path."""
    return {name: sha256_file(directory / name) for name in bundle_files(directory)}


def write_sums(directory: Path) -> Path:
    """Write `SHA256SUMS` (sha256sum format) over every other file; return its path."""
    sums = compute_sums(directory)
    path = directory / SUMS_NAME
    atomic_write(path, "".join(f"{digest}  {name}\n" for name, digest in sums.items()).encode())
    return path


def read_sums(path: Path) -> dict[str, str]:
    """Parse a `SHA256SUMS` file into {relative path: hex digest}."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IntegrityError(f"{path}: no {SUMS_NAME} in the bundle (was it sealed?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{path}: cannot read: {exc}") from None
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep:
            digest, sep, name = line.partition(" *")  # sha256sum's binary-mode marker
        if not sep or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise IntegrityError(f"{path}:{number}: not a sha256sum line: {one_line(line)[:80]}")
        sums[name] = digest
    return sums


@dataclass(frozen=True)
class Verification:
    """What `verify` found: files changed, added or removed, and the signature's state."""

    directory: Path
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    signature: SignatureState = "absent"
    signature_detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether every file is as sealed and no checked signature failed."""
        return not (self.changed or self.added or self.removed) and self.signature != "invalid"

    def lines(self) -> list[str]:
        """The report `dtr-upgrade verify-bundle` prints: `OK` or one line per problem."""
        out = [f"changed: {name}" for name in self.changed]
        out += [f"added: {name}" for name in self.added]
        out += [f"removed: {name}" for name in self.removed]
        if self.signature == "invalid":
            out.append(f"signature: INVALID ({self.signature_detail})")
        if out:
            return out
        summary = {
            "valid": f"OK (signature valid: {self.signature_detail})",
            "absent": "OK (not signed)",
            "not-checked": "OK (signature present, not checked: give --allowed-signers or "
            "--public-key)",
        }
        return [summary.get(self.signature, "OK")]


def verify(
    directory: Path, *, allowed_signers: Path | None = None, public_key: Path | None = None
) -> Verification:
    """Recompute the sums of `directory` against its `SHA256SUMS`; check the signature when
    an allowed-signers file or a public key is given (a missing signature then fails)."""
    recorded = read_sums(directory / SUMS_NAME)
    current = compute_sums(directory)
    changed = tuple(n for n in sorted(recorded) if n in current and current[n] != recorded[n])
    # A bundle never holds a symbolic link: one that appeared (to /etc/passwd, say) is added
    # content that the sums would otherwise not see.
    links = [p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_symlink()]
    added = tuple(sorted({n for n in current if n not in recorded} | set(links)))
    removed = tuple(n for n in sorted(recorded) if n not in current)
    signature_path = directory / SIGNATURE_NAME
    state: SignatureState
    detail = ""
    if allowed_signers is None and public_key is None:
        state = "not-checked" if signature_path.exists() else "absent"
    elif not signature_path.exists():
        state, detail = "invalid", f"no {SIGNATURE_NAME} in the bundle"
    else:
        valid, detail = verify_signature(
            directory / SUMS_NAME,
            signature_path,
            allowed_signers=allowed_signers,
            public_key=public_key,
        )
        state = "valid" if valid else "invalid"
    return Verification(directory, changed, added, removed, state, detail)


# -- redaction ------------------------------------------------------------------------------

SECRET_VARIABLES: Final = ("DTR_PASSWORD", "DTR_TOKEN", "UCP_PASSWORD")
USERNAME_VARIABLES: Final = {
    "DTR_PASSWORD": "DTR_USERNAME",
    "DTR_TOKEN": "DTR_USERNAME",
    "UCP_PASSWORD": "UCP_USERNAME",
}


def _markup_forms(value: str) -> set[str]:
    # How a value reads inside HTML/XML text and attributes, and inside JSON inside HTML.
    forms = {html.escape(value, quote=True), html.escape(value, quote=False)}
    forms.add(html.escape(value, quote=True).replace("&#x27;", "&#39;"))
    escaped_json = value.replace("\\", "\\\\").replace('"', '\\"')
    forms.add(html.escape(escaped_json, quote=True))
    return {form for form in forms if form != value}


def environment_redactor(environ: Mapping[str, str], extra: Iterable[str] = ()) -> Redactor:
    """A redactor for the secrets in the environment (`DTR_PASSWORD`, `DTR_TOKEN`,
    `UCP_PASSWORD`) and `extra`, in raw, basic-auth (base64 of `user:secret`), percent-, JSON-
    and HTML-escaped forms, so that no rendering of a secret survives in a bundle file."""
    redactor = Redactor()
    values = [environ.get(name, "") for name in SECRET_VARIABLES] + list(extra)
    for name in SECRET_VARIABLES:
        secret = environ.get(name, "")
        username = environ.get(USERNAME_VARIABLES[name], "")
        if secret and username:
            redactor.add_basic_auth(username, secret)
    for secret in values:
        if not secret:
            continue
        redactor.add(secret)
        for form in _markup_forms(secret):
            redactor.add(form)
        encoded = base64.b64encode(secret.encode()).decode("ascii")
        redactor.add(encoded)
    return redactor


def redact_files(directory: Path, redact: Callable[[str], str]) -> list[str]:
    """Rewrite every bundle file with `redact` applied; return the files that changed.

    Files are read as UTF-8 with undecodable bytes kept as they are (surrogate escapes), so
    a binary file is only touched where a secret's text occurs in it.
    """
    changed = []
    for name in bundle_files(directory):
        path = directory / name
        raw = path.read_bytes()
        text = raw.decode("utf-8", errors="surrogateescape")
        scrubbed = redact(text)
        if scrubbed == text:
            continue
        atomic_write(path, scrubbed.encode("utf-8", errors="surrogateescape"))
        changed.append(name)
    return changed


# -- signing --------------------------------------------------------------------------------


def check_sign_key(key: Path) -> None:
    """Refuse a signing key that cannot be used, before the session starts."""
    require_key_file(key)
    # A trial signature: a file that is not a usable private key (or one with a passphrase,
    # which a session cannot answer) is refused now, not after the upgrade.
    with tempfile.TemporaryDirectory(prefix="dtr-upgrade-sign-") as folder:
        probe = Path(folder) / SUMS_NAME
        probe.write_text("trial\n", encoding="utf-8")
        try:
            sign(probe, key)
        except SigningError as exc:
            raise SigningError(f"--sign-key {key}: cannot sign with it ({exc})") from None


# -- sealing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seal:
    """What sealing did: files scrubbed of secrets, the sums file and the signature."""

    redacted: tuple[str, ...]
    sums: Path
    signature: Path | None = None
    files: tuple[str, ...] = field(default=())


def seal(
    directory: Path,
    redactors: Sequence[Callable[[str], str]] = (),
    *,
    sign_key: Path | None = None,
) -> Seal:
    """Redact every file with each of `redactors`, write `SHA256SUMS`, sign it with `sign_key`."""

    def redact(text: str) -> str:
        for step in redactors:
            text = step(text)
        return text

    redacted = redact_files(directory, redact) if redactors else []
    stale = directory / SIGNATURE_NAME
    if stale.exists():
        stale.unlink()
    sums = write_sums(directory)
    signature = sign(sums, sign_key) if sign_key is not None else None
    return Seal(tuple(redacted), sums, signature, tuple(read_sums(sums)))
