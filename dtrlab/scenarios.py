"""Named fault scenarios: each makes one preflight, upgrade or post check fail for its reason."""

from __future__ import annotations

from dtrlab.errors import LabConfigError, UnknownScenarioError

SCENARIOS: dict[str, str] = {
    "healthy": "nothing wrong: every check passes",
    "content-trust-on": "UCP requires content trust; the bootstrapper refuses to upgrade",
    "content-trust-allowed": "UCP requires content trust, but allow_repos lists the DTR images' "
    "repositories (how sites upgrade with trust on): the upgrade runs",
    "admin-scheduling-off": "UCP does not let admins schedule on managers or DTR nodes "
    "(enable_admin_ucp_scheduling = false): the bootstrapper finds no node for its containers",
    "another-cluster": "a --phase=post session's lab is another cluster than the --baseline's: "
    "its replicas get new IDs (otherwise they take the baseline's, as the same DTR keeps them)",
    "create-on-push": "DTR's settings have createRepositoryOnPush = true: a push to a repository "
    "that does not exist creates it (by default such a push fails NAME_UNKNOWN)",
    "upgrades-disabled": "DTR's settings have disableUpgrades = true (undocumented; the "
    "bootstrapper upgrades regardless)",
    "unresolvable-nodes": "no replica address is handed to the session and replicaSettings' node "
    "names (lab-worker-N) do not resolve: UCP's node list (Status.Addr) has the addresses",
    "ucp-too-old": "UCP is older than the pairing of DTR's next minor (e.g. 3.0.7 with DTR 2.5)",
    "no-backup": "no DTR backup is available",
    "stale-backup": "the only DTR backup is 30 days old",
    "backup-fails": "the bootstrapper's backup prints half its archive, then fails (status 1)",
    "backup-empty": "the bootstrapper's backup prints nothing and exits 0",
    "backup-slow": "the bootstrapper's backup takes 10 s to print its archive",
    "replica-unhealthy": "one replica answers /_ping 503 and is not OK in cluster_status",
    "mixed-versions": "one replica already runs a newer version (an unfinished earlier upgrade)",
    "gc-running": "a garbage collection (gc) job is running",
    "upgrade-crash": "the first upgrade attempt dies after the 2nd replica; a re-run resumes",
    "upgrade-crash-always": "every upgrade attempt dies",
    "migration-fails": "the hop's metadatastoremigration errors on all 3 attempts; a manual "
    "POST /api/v0/jobs succeeds",
    "vuln-db-update-fails": "update_vuln_db jobs error; imagescan/status lastDBUpdateFailed",
    "vuln-db-current": "an update_vuln_db job finds no newer database: it ends done and "
    "db_updated_at stays as it was",
    "metadata-store-opted-in": "the 2.5 cluster already migrated its metadata store "
    "(metadataStoreOptedIn): the 2.6 upgrade schedules no metadatastoremigration",
    "jobs-cut-by-upgrade": "replacing each jobrunner cuts its running jobs: cancel_request, then "
    "worker_shutdown (one-off jobs; poll_mirror retried by retryFromID) or worker_dead (claimed "
    "by another replica)",
    "long-outage": "an 8 s cluster-wide interruption during the upgrade",
    "data-loss": "one tag vanishes during the upgrade",
    "blobs-lost": "one repository's blobs are gone from storage after the upgrade; its tags stay "
    "listed",
    "manifest-corrupt": "after the upgrade one manifest's bytes no longer hash to its digest",
    "blobs-lost-before": "one repository's blobs were gone from storage before the change",
    "slow-replica": "the last replica replaced needs 20 s to report healthy after its swap",
    "version-suffix": "docs.json info.version carries a build suffix (2.6.4-1a2b3c4d), as a real "
    "2.7.0 reports 2.7.0-29094adc",
    "rethink-noncritical-issue": "RethinkDB reports an outdated_index issue (critical: false)",
    "rethink-critical-issue": "RethinkDB reports a table_availability issue (critical: true)",
    "no-version-label": "the engine lab's replica containers carry no com.docker.dtr.version "
    "label, only com.docker.compose.project",
    "manifest-v1-image": "legacy/centos:6 is a manifest schema 1 image, which 2.6's upgrade "
    "checks for",
    "image-missing-on-node": "node lab-worker-2 lacks the target's dtr-registry image (an "
    "offline or mirrored site that did not load every image the bootstrapper lists)",
}

# Scenarios the engine lab (`--engine docker`) cannot show, and why: it runs every lab node's
# containers on one Docker engine, so whatever one node holds, every node holds.
PROCESS_LAB_ONLY: dict[str, str] = {
    "image-missing-on-node": "the engine lab runs every node's containers on one Docker engine, "
    "so lab-worker-2 cannot lack an image the other nodes hold",
}


def refuse_on_engine(names: tuple[str, ...], engine: str) -> None:
    """Raise LabConfigError when a scenario of PROCESS_LAB_ONLY is asked of the engine lab."""
    refused = [name for name in names if name in PROCESS_LAB_ONLY] if engine == "docker" else []
    if refused:
        raise LabConfigError(
            "; ".join(
                f"{name} runs on the process lab only: {PROCESS_LAB_ONLY[name]}" for name in refused
            )
        )


def parse_scenarios(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Split `a,b` (or take a sequence) into known scenario names, in order, without repeats.

    Raises UnknownScenarioError naming the unknown names and listing the valid ones.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for item in items:
        name = item.strip()
        if name and name not in names:
            names.append(name)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise UnknownScenarioError(
            f"unknown lab scenario(s) {', '.join(unknown)}; valid: {', '.join(SCENARIOS)}"
        )
    if not names:
        return ("healthy",)
    if len(names) > 1 and "healthy" in names:
        names.remove("healthy")
    return tuple(names)
