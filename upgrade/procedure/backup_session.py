"""`--backup=take[:PATH]` in a harness session: the request, the log, the progress lines.

The backup is taken with the bootstrapper of the version the cluster runs, as the site has it
(the catalogue's or --dtr-image's image run through the docker SDK for a real DTR and the
engine lab, the lab's program otherwise), before PRE-BACKUP judges it, also in a session
without --apply: taking a backup changes nothing in the cluster (`docker/dtr backup` reads it;
reference/dtr/2.6/cli/backup.md), and the evidence says which kind of session took it. Its
log goes to `backup.log` in the bundle, scrubbed like `upgrade.log`; error lines and the
outcome also reach the terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from upgrade.cluster.health import look
from upgrade.cluster.job_logs import ERROR_LEVELS
from upgrade.errors import HarnessError
from upgrade.evidence.times import utc_now
from upgrade.procedure.backup_run import (
    TakenBackup,
    backup_destination,
    name_abandoned,
    shown_command,
    take,
)
from upgrade.procedure.bootstrapper import BootstrapperRequest, log_level

if TYPE_CHECKING:
    from upgrade.cluster.site import Site
    from upgrade.cluster.target import Target
    from upgrade.config.settings import Settings
    from upgrade.procedure.session import UpgradeOutput
    from upgrade.rules.catalog import Catalog
    from upgrade.rules.versions import Version

__all__ = ["BACKUP_LOG", "backup_request", "take_for_session"]

BACKUP_LOG: Final = "backup.log"


def _existing_replica(target: Target, settings: Settings) -> str:
    if settings.existing_replica_id:
        return settings.existing_replica_id
    report = look(target)
    for rid in sorted(report.pings):
        if report.pings[rid].get("healthy"):
            return rid
    raise HarnessError("no healthy replica to back up (--existing-replica-id); repair one first")


def backup_request(
    target: Target, settings: Settings, image: str, version: Version
) -> BootstrapperRequest:
    """The `backup` request of the running version: UCP's address, the admin, UCP's CA (the
    --ucp-ca file, else the one UCP serves at /ca) unless --insecure-tls, the replica."""
    creds = target.ucp_credentials
    if creds is None:
        raise HarnessError("UCP credentials are missing: set UCP_USERNAME and UCP_PASSWORD")
    ca: str | None = None
    if not settings.insecure_tls:
        ca_file = target.endpoints.ucp_ca
        ca = ca_file.read_text() if ca_file is not None else target.ucp().ca()
    return BootstrapperRequest(
        image=image,
        target_version=str(version),
        ucp_url=target.ucp_url(),
        ucp_username=creds.username,
        ucp_password=creds.secret,
        existing_replica_id=_existing_replica(target, settings),
        ucp_ca_pem=ca,
        ucp_insecure_tls=ca is None,
        debug=settings.bootstrapper_debug,
        command="backup",
    )


def take_for_session(
    site: Site,
    target: Target,
    settings: Settings,
    catalog: Catalog,
    version: Version,
    bundle: Path,
    say: Callable[[str], None],
    bundle_problems: list[str] | None = None,
) -> TakenBackup:
    """Take the session's backup; what went wrong is in the result (PRE-BACKUP's finding).
    Lines `backup.log` lost (a full disk) are added to `bundle_problems`, as upgrade.log's are."""
    from upgrade.procedure.session import UpgradeOutput

    began = time.monotonic()
    # The image tag and the archive's name are the plain release (a build suffix of
    # docs.json's version is neither: fidelity-review.md 2).
    version = version.release
    image = site.bootstrapper_image(version, catalog)
    destination = backup_destination(settings, str(version), utc_now())
    log = bundle / BACKUP_LOG
    output = UpgradeOutput(lambda: log.open("ab", buffering=0), str(log), say)

    def on_line(line: str) -> None:
        text = target.redactor.redact(line.rstrip("\n"))
        output.log(text)
        if log_level(text) in ERROR_LEVELS:
            output.tell(f"  backup [{time.monotonic() - began:6.1f} s] {text}")

    output.open()
    for unfinished, size in name_abandoned(destination.parent):
        # A session killed while taking its backup left this; it is no backup.
        output.tell(
            f"dtr-upgrade: {unfinished} ({size} bytes) is what a session killed while taking "
            "a backup left: it is not a backup (renamed from .partial); delete it"
        )
        output.log(f"# found and renamed an abandoned partial backup: {unfinished}")
    try:
        request = backup_request(target, settings, image, version)
        output.log(f"# {target.redactor.redact(shown_command(request, destination))}")
        output.tell(f"dtr-upgrade: taking a DTR backup with {image} into {destination}")
        taken = take(
            site.executor(version),
            request,
            destination,
            settings.upgrade_timeout.total_seconds(),
            on_line,
            preflight_only=settings.mode != "upgrade",
        )
    except HarnessError as exc:
        _close(output, bundle_problems)
        raise HarnessError(f"the backup could not be taken: {exc}") from None
    outcome = (
        f"backup taken: {taken.path} ({taken.size} bytes, sha256 {taken.sha256}) in "
        f"{taken.duration_s:.1f} s"
        if taken.ok
        else f"no backup: {taken.problem}"
    )
    output.log(f"# {target.redactor.redact(outcome)}")
    output.tell(f"dtr-upgrade: {target.redactor.redact(outcome)}")
    _close(output, bundle_problems)
    return taken


def _close(output: UpgradeOutput, bundle_problems: list[str] | None) -> None:
    output.close()
    if bundle_problems is not None:
        bundle_problems.extend(
            f"{Path(p.output).name}: {p.error}; {p.lost} line(s) lost"
            for p in output.problems()
            if p.output == output.log_name  # lost evidence; a lost terminal is not
        )
