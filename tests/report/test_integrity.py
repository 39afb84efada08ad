"""SHA256SUMS, the redaction pass and SSH signatures of evidence bundles."""

from __future__ import annotations

import base64
import html
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from upgrade.evidence import integrity, signing

SSH_KEYGEN = shutil.which("ssh-keygen") or "ssh-keygen"
needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None and not os.environ.get("CI"),
    reason="ssh-keygen (openssh-client) is not installed",
)


def make_bundle(root: Path) -> Path:
    bundle = root / "bundle"
    (bundle / "evidence").mkdir(parents=True)
    (bundle / "report.html").write_text("<html>report</html>\n")
    (bundle / "result.json").write_text('{"verdict": "GO"}\n')
    (bundle / "evidence" / "PRE-X-0-big.json").write_text("[1, 2, 3]\n")
    return bundle


def keypair(root: Path, name: str) -> Path:
    key = root / name
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
        check=True,
        timeout=30,
    )
    return key


def test_sums_cover_every_other_file_in_sha256sum_format(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    integrity.seal(bundle)
    lines = (bundle / "SHA256SUMS").read_text().splitlines()
    names = [line.split("  ", 1)[1] for line in lines]
    assert names == ["evidence/PRE-X-0-big.json", "report.html", "result.json"]
    sha256sum = shutil.which("sha256sum")
    if sha256sum:
        check = subprocess.run(
            [sha256sum, "--check", "--strict", "SHA256SUMS"],
            cwd=bundle,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    assert integrity.verify(bundle).lines() == ["OK (not signed)"]


@pytest.mark.parametrize("tamper", ["change", "add", "remove", "change-nested"])
def test_any_tampering_is_named(tmp_path: Path, tamper: str) -> None:
    bundle = make_bundle(tmp_path)
    integrity.seal(bundle)
    if tamper == "change":
        (bundle / "result.json").write_text('{"verdict": "UPGRADED"}\n')
        expected = ["changed: result.json"]
    elif tamper == "add":
        (bundle / "extra.txt").write_text("slipped in\n")
        expected = ["added: extra.txt"]
    elif tamper == "remove":
        (bundle / "report.html").unlink()
        expected = ["removed: report.html"]
    else:
        (bundle / "evidence" / "PRE-X-0-big.json").write_text("[1, 2, 4]\n")
        expected = ["changed: evidence/PRE-X-0-big.json"]
    found = integrity.verify(bundle)
    assert not found.ok
    assert found.lines() == expected


def test_a_touched_sums_file_fails_to_parse_with_its_line(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    integrity.seal(bundle)
    with (bundle / "SHA256SUMS").open("a") as sums:
        sums.write("not a checksum line\n")
    with pytest.raises(integrity.IntegrityError, match=r"SHA256SUMS:4: not a sha256sum line"):
        integrity.verify(bundle)


def test_missing_sums_says_the_bundle_was_not_sealed(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    with pytest.raises(integrity.IntegrityError, match="no SHA256SUMS in the bundle"):
        integrity.verify(bundle)


def test_redaction_pass_scrubs_every_form_before_the_sums(tmp_path: Path) -> None:
    secret = "pa&ss<w0rd>'\"x"
    environ = {"DTR_USERNAME": "admin", "DTR_PASSWORD": secret}
    basic = base64.b64encode(f"admin:{secret}".encode()).decode()
    bundle = make_bundle(tmp_path)
    (bundle / "junit.xml").write_text(f"<x a='{html.escape(secret)}'>{secret}</x>\n")
    (bundle / "upgrade.log").write_text(f"Authorization: Basic {basic}\n")
    (bundle / "blob.bin").write_bytes(b"\xff\xfe" + secret.encode() + b"\x00")
    sealed = integrity.seal(bundle, [integrity.environment_redactor(environ).redact])
    assert set(sealed.redacted) == {"junit.xml", "upgrade.log", "blob.bin"}
    for path in bundle.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for form in (secret, basic, html.escape(secret), html.escape(secret, quote=False)):
                assert form.encode() not in data, f"{form!r} left in {path.name}"
    assert (bundle / "blob.bin").read_bytes().startswith(b"\xff\xfe****")
    assert integrity.verify(bundle).ok


def test_file_names_sha256sum_cannot_list_are_refused(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    (bundle / "bad\nname").write_text("x")
    with pytest.raises(integrity.IntegrityError, match="cannot be listed in SHA256SUMS"):
        integrity.seal(bundle)


@needs_ssh_keygen
def test_signed_bundle_verifies_with_its_key_and_fails_with_another(tmp_path: Path) -> None:
    signer = keypair(tmp_path, "operator")
    other = keypair(tmp_path, "someone-else")
    bundle = make_bundle(tmp_path)
    sums = integrity.seal(bundle).sums
    signature = signing.sign(sums, signer)
    assert signature.name == "SHA256SUMS.sig"
    assert signature.read_text().startswith("-----BEGIN SSH SIGNATURE-----")

    good = integrity.verify(bundle, public_key=Path(f"{signer}.pub"))
    assert good.ok
    assert good.signature == "valid"
    assert good.lines()[0].startswith("OK (signature valid")

    bad = integrity.verify(bundle, public_key=Path(f"{other}.pub"))
    assert not bad.ok
    assert bad.lines() == ["signature: INVALID (the signing key is not an allowed signer)"]

    not_checked = integrity.verify(bundle)
    assert not_checked.ok
    assert not_checked.signature == "not-checked"


@needs_ssh_keygen
def test_allowed_signers_file_and_the_standard_tool_agree(tmp_path: Path) -> None:
    signer = keypair(tmp_path, "operator")
    bundle = make_bundle(tmp_path)
    signing.sign(integrity.seal(bundle).sums, signer)
    allowed = tmp_path / "allowed_signers"
    public = Path(f"{signer}.pub").read_text().split()
    allowed.write_text(f'ops@example.com namespaces="dtr-upgrade-bundle" {public[0]} {public[1]}\n')
    assert integrity.verify(bundle, allowed_signers=allowed).signature == "valid"
    # an auditor's own command line, without the harness
    with (bundle / "SHA256SUMS").open("rb") as sums:
        plain = subprocess.run(
            [
                SSH_KEYGEN,
                "-Y",
                "verify",
                "-f",
                str(allowed),
                "-I",
                "ops@example.com",
                "-n",
                "dtr-upgrade-bundle",
                "-s",
                str(bundle / "SHA256SUMS.sig"),
            ],
            stdin=sums,
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert plain.returncode == 0, plain.stderr


@needs_ssh_keygen
def test_signature_over_edited_sums_is_invalid(tmp_path: Path) -> None:
    signer = keypair(tmp_path, "operator")
    bundle = make_bundle(tmp_path)
    signing.sign(integrity.seal(bundle).sums, signer)
    # someone edits a file and recomputes the sums to hide it: the signature no longer matches
    (bundle / "result.json").write_text('{"verdict": "UPGRADED"}\n')
    integrity.write_sums(bundle)
    found = integrity.verify(bundle, public_key=Path(f"{signer}.pub"))
    assert found.changed == ()
    assert found.signature == "invalid"
    assert not found.ok


@needs_ssh_keygen
def test_a_required_signature_that_is_missing_fails(tmp_path: Path) -> None:
    signer = keypair(tmp_path, "operator")
    bundle = make_bundle(tmp_path)
    integrity.seal(bundle)
    found = integrity.verify(bundle, public_key=Path(f"{signer}.pub"))
    assert found.lines() == ["signature: INVALID (no SHA256SUMS.sig in the bundle)"]


def test_unusable_sign_key_is_refused_with_the_option_name(tmp_path: Path) -> None:
    with pytest.raises(signing.SigningError, match=r"--sign-key .*missing: no such file"):
        integrity.check_sign_key(tmp_path / "missing")


@needs_ssh_keygen
def test_signing_with_a_non_key_names_the_key_and_what_ssh_keygen_said(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    not_a_key = tmp_path / "not-a-key"
    not_a_key.write_text("hello\n")
    with pytest.raises(signing.SigningError, match=r"could not sign SHA256SUMS with .*not-a-key"):
        signing.sign(integrity.seal(bundle).sums, not_a_key)


def test_a_file_that_is_not_a_usable_key_is_refused_before_the_session(tmp_path: Path) -> None:
    """A trial signature at start: a bad --sign-key must not surface only after the upgrade,
    as an unsigned bundle whose report says it is signed."""
    not_a_key = tmp_path / "not-a-key"
    not_a_key.write_text("key\n")
    with pytest.raises(signing.SigningError, match=r"--sign-key .*not-a-key: cannot sign"):
        integrity.check_sign_key(not_a_key)


def test_a_symbolic_link_added_to_a_sealed_bundle_is_named(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "result.json").write_text("{}\n")
    integrity.seal(bundle)
    (bundle / "evil.txt").symlink_to("/etc/passwd")
    checked = integrity.verify(bundle)
    assert not checked.ok
    assert checked.added == ("evil.txt",)
