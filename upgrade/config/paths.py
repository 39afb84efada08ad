"""Checks on the local files and folders that options name, made once at resolution.

A CA file, catalogue, waiver file or baseline must exist; a CA file must hold a PEM certificate
the TLS layer can load; the report dir must be a directory the session can write its bundle into.
Nothing is created here: a refused path leaves the disk as it was.
"""

from __future__ import annotations

import os
import ssl
import tarfile
from collections.abc import Mapping
from pathlib import Path

from upgrade.config.values import SettingsError

# Options whose value is a file that must exist, and those among them that are CA bundles.
EXISTING_FILES = ("dtr_ca", "ucp_ca", "catalog", "waivers", "baseline")
CA_BUNDLES = ("dtr_ca", "ucp_ca")


def check_named_files(raw: Mapping[str, object]) -> None:
    """Refuse a named file that does not exist, then a CA file that is not a PEM bundle."""
    for key in EXISTING_FILES:
        path = raw[key]
        if isinstance(path, Path) and not path.is_file():
            raise SettingsError(f"--{key.replace('_', '-')} {path}: no such file")
    for key in CA_BUNDLES:
        path = raw[key]
        if isinstance(path, Path):
            check_ca_bundle(path, f"--{key.replace('_', '-')}")


def check_ca_bundle(path: Path, option: str) -> None:
    """Refuse a CA file that holds no PEM certificate the TLS layer can load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError:
        loaded = 0
    except OSError as exc:
        raise SettingsError(f"{option} {path}: cannot be read ({exc.strerror or exc})") from None
    else:
        loaded = context.cert_store_stats()["x509"]
    if not loaded:
        raise SettingsError(
            f"{option} {path}: not a PEM CA bundle (no -----BEGIN CERTIFICATE----- could be "
            "read); give the CA certificate that signed the server's certificate"
        )


def check_vuln_db_archive(path: Path, option: str = "--update-vuln-db") -> None:
    """Refuse an offline vulnerability database that is not a tar archive (plain or compressed,
    as Python's tarfile reads it) before anything is changed: DTR takes the offline database as
    a `.tar` file (dtr-facts.md, "PUT /api/v0/imagescan/scan/update?online=false"), and anything
    else was only refused by DTR after the upgrade."""
    try:
        readable = tarfile.is_tarfile(path)
    except OSError as exc:
        raise SettingsError(f"{option} {path}: cannot be read ({exc.strerror or exc})") from None
    if not readable:
        raise SettingsError(
            f"{option} {path}: not a tar archive; give the offline vulnerability database "
            ".tar file downloaded for this DTR (or online, check or auto)"
        )


def check_report_dir(path: Path) -> None:
    """Refuse a report dir the session could not write its bundle into (nothing is created)."""
    try:
        if path.is_symlink() and not path.exists():
            raise SettingsError(
                f"--report-dir {path}: a symbolic link to nothing; fix or remove it"
            )
        if path.exists() and not path.is_dir():
            raise SettingsError(f"--report-dir {path}: not a directory; name a directory")
        existing = path.absolute()
        while not existing.exists():
            existing = existing.parent
    except OSError as exc:
        raise SettingsError(f"--report-dir {path}: cannot be checked ({exc.strerror})") from None
    where = "" if existing == path.absolute() else f" (its nearest existing parent {existing})"
    if not existing.is_dir():
        raise SettingsError(f"--report-dir {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SettingsError(
            f"--report-dir {path}: not writable{where}; choose a directory you can write to"
        )
