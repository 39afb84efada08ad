"""Each named scenario has the observable effect a check relies on."""

from __future__ import annotations

import http.client
import io
import re
import ssl
import subprocess
import tarfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from dtrlab import SCENARIOS, Lab, LabConfig
from dtrlab.cluster import MIGRATION_ERROR
from tests.lab.conftest import (
    BOOTSTRAPPER_TIMEOUT_S,
    bootstrapper_cmd,
    bootstrapper_env,
    run_bootstrapper,
    session_for,
)

MAX_SAMPLES = 2000
ROOT = Path(__file__).resolve().parents[2]
VERDICT = r"\b(HEALTHY|UNHEALTHY|GO|NO-GO|UPGRADED|UPGRADE-FAILED|VERIFY-FAILED|INTERRUPTED)\b"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ucp_session(lab: Lab) -> requests.Session:
    """A session logged in to the lab's UCP."""
    session = session_for(lab)
    session.auth = None
    login = session.post(
        lab.ucp_url + "/auth/login",
        json={"username": lab.credentials.ucp_username, "password": lab.credentials.ucp_password},
        timeout=10,
    )
    session.headers["Authorization"] = "Bearer " + login.json()["auth_token"]
    return session


def ping_all(lab: Lab) -> dict[str, tuple[int, dict[str, object]]]:
    """Status and body of every replica's /_ping."""
    with session_for(lab) as api:
        result = {}
        for rid, url in lab.replica_urls.items():
            response = api.get(url + "/_ping", timeout=10)
            result[rid] = (response.status_code, response.json())
        return result


def readme_scenario_rows() -> dict[str, list[str]]:
    """The README's lab fault scenario table: scenario name -> its other cells."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Lab fault scenarios", 1)[1].split("\n#", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        name = re.fullmatch(r"`([a-z0-9-]+)`", cells[0])
        if line.startswith("|") and name:
            assert name[1] not in rows, f"{name[1]} has two rows"
            rows[name[1]] = cells[1:]
    return rows


def test_lab_scenarios_are_all_documented() -> None:
    """Every scenario of dtrlab/scenarios.py has a row in the README's table saying what the lab
    does and which existing check and verdict it gives, and the table names no other; a bad
    name is refused with the valid list."""
    rows = readme_scenario_rows()
    assert sorted(rows) == sorted(SCENARIOS), "README's lab fault scenario table"
    check_ids = set(
        re.findall(
            r'@pytest\.mark\.check\("([A-Z0-9-]+)"\)',
            "".join(f.read_text(encoding="utf-8") for f in (ROOT / "checks").glob("*.py")),
        )
    )
    for name, cells in rows.items():
        assert len(cells) == 2, f"{name}: what the lab does, then check and verdict"
        assert all(cells), f"{name}: a cell is empty"
        named = set(re.findall(r"\b(?:PRE|POST|UPG)-[A-Z0-9-]*[A-Z0-9]\b", cells[1]))
        assert named <= check_ids, f"{name} names unknown checks {sorted(named - check_ids)}"
        assert named or name == "healthy", f"{name}: which check shows it"
        assert re.search(VERDICT, cells[1]), f"{name}: which verdict"
    with pytest.raises(ValueError, match=r"unknown lab scenario\(s\) nope; valid: healthy, "):
        LabConfig(scenarios=("healthy", "nope"))


def test_lab_healthy(lab: Lab, api: requests.Session, tmp_path: Path) -> None:
    """healthy: every replica pings 200, cluster_status is all OK, no job runs, UCP 3.1.6 with
    content trust off, and a fresh backup is provided."""
    assert all(
        status == 200 and body == {"Error": "", "Healthy": True}
        for status, body in ping_all(lab).values()
    )
    status = api.get(lab.url + "/api/v0/meta/cluster_status", timeout=10).json()
    assert set(status["replica_health"].values()) == {"OK"}
    assert status["rethink_system_tables"]["current_issues"] == []
    assert all(
        t["status"]["all_replicas_ready"] for t in status["rethink_system_tables"]["table_status"]
    )
    assert status["gc_lock_holder"] == ""
    assert (
        api.get(lab.url + "/api/v0/jobs", params={"running": "true"}, timeout=10).json()["jobs"]
        == []
    )
    with ucp_session(lab) as ucp:
        assert ucp.get(lab.ucp_url + "/version", timeout=10).json()["Version"] == "ucp/3.1.6"
        assert (
            "require_content_trust = false"
            in ucp.get(lab.ucp_url + "/api/ucp/config-toml", timeout=10).text
        )
    backup = lab.provide_backup(tmp_path)
    assert backup is not None
    assert abs(backup.stat().st_mtime - time.time()) < 60


def test_lab_content_trust_on(make_lab: Callable[..., Lab]) -> None:
    """content-trust-on: UCP's config has require_content_trust = true; turning it off through
    PUT /api/ucp/config-toml lets the bootstrapper run."""
    lab = make_lab(scenarios=("content-trust-on",))
    with ucp_session(lab) as ucp:
        text = ucp.get(lab.ucp_url + "/api/ucp/config-toml", timeout=10).text
        assert "[trust_configuration]" in text
        assert "require_content_trust = true" in text
        assert run_bootstrapper(lab, "2.6.4").returncode == 1
        put = ucp.put(
            lab.ucp_url + "/api/ucp/config-toml",
            data=text.replace("require_content_trust = true", "require_content_trust = false"),
            timeout=10,
        )
        assert put.status_code == 200
        bad = ucp.put(lab.ucp_url + "/api/ucp/config-toml", data="not = [toml", timeout=10)
        assert bad.status_code == 400
    assert run_bootstrapper(lab, "2.6.4").returncode == 0


def test_lab_ucp_too_old(make_lab: Callable[..., Lab]) -> None:
    """ucp-too-old: UCP reports the pairing of DTR's current minor (3.0.7 for DTR 2.5)."""
    lab = make_lab(scenarios=("ucp-too-old",))
    with ucp_session(lab) as ucp:
        assert ucp.get(lab.ucp_url + "/version", timeout=10).json()["Version"] == "ucp/3.0.7"
        ucp.headers.pop("Authorization")
        assert ucp.get(lab.ucp_url + "/version", timeout=10).status_code == 401


def test_lab_no_backup_and_stale_backup(make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    """no-backup provides none; stale-backup provides one 30 days old in the documented layout."""
    assert make_lab(scenarios=("no-backup",)).provide_backup(tmp_path / "none") is None
    lab = make_lab(scenarios=("stale-backup",))
    backup = lab.provide_backup(tmp_path / "stale")
    assert backup is not None
    age_days = (time.time() - backup.stat().st_mtime) / 86400
    assert 29.9 < age_days < 30.1
    with tarfile.open(backup) as tar:
        names = tar.getnames()
        assert "dtr-backup-v2.5.11" in names
        assert "dtr-backup-v2.5.11/rethink" in names
        assert "dtr-backup-v2.5.11/rethink/properties/0" in names
        properties = tar.extractfile("dtr-backup-v2.5.11/rethink/properties/0")
        assert properties is not None
        assert b'"value": "2.5.11"' in properties.read()


def test_lab_replica_unhealthy(make_lab: Callable[..., Lab]) -> None:
    """replica-unhealthy: one replica answers 503 {"Healthy": false}, cluster_status does not
    show it OK, and the load balancer keeps serving from the others."""
    lab = make_lab(scenarios=("replica-unhealthy",))
    pings = ping_all(lab)
    bad = [rid for rid, (status, _) in pings.items() if status == 503]
    assert len(bad) == 1
    assert pings[bad[0]][1]["Healthy"] is False
    assert pings[bad[0]][1]["Error"]
    with session_for(lab) as api:
        health = api.get(lab.url + "/api/v0/meta/cluster_status", timeout=10).json()[
            "replica_health"
        ]
        assert health[bad[0]] != "OK"
        assert [v for k, v in health.items() if k != bad[0]] == ["OK", "OK"]
        assert all(api.get(lab.url + "/_ping", timeout=10).status_code == 200 for _ in range(6))


@pytest.mark.parametrize(("mixed_version", "expected"), [(None, "2.6.15"), ("2.6.4", "2.6.4")])
def test_lab_mixed_versions(
    make_lab: Callable[..., Lab], mixed_version: str | None, expected: str
) -> None:
    """mixed-versions: the last replica already runs the next minor (newest known by default)."""
    lab = make_lab(scenarios=("mixed-versions",), mixed_version=mixed_version)
    versions = list(lab.replica_versions().values())
    assert versions == ["2.5.11", "2.5.11", expected]


def test_lab_mixed_versions_resumes_to_the_same_target(make_lab: Callable[..., Lab]) -> None:
    """An unfinished upgrade to 2.6.4 is finished by re-running it."""
    lab = make_lab(scenarios=("mixed-versions",), mixed_version="2.6.4")
    result = run_bootstrapper(lab, "2.6.4")
    assert result.returncode == 0, result.stdout
    assert "already at 2.6.4; skipping" in result.stdout
    assert set(lab.replica_versions().values()) == {"2.6.4"}


def test_lab_gc_running(make_lab: Callable[..., Lab]) -> None:
    """gc-running: a gc job is running and holds the GC lock."""
    lab = make_lab(scenarios=("gc-running",))
    with session_for(lab) as api:
        jobs = api.get(
            lab.url + "/api/v0/jobs", params={"action": "gc", "running": "true"}, timeout=10
        ).json()["jobs"]
        assert len(jobs) == 1
        assert jobs[0]["status"] == "running"
        assert jobs[0]["workerID"] in lab.replica_urls
        status = api.get(lab.url + "/api/v0/meta/cluster_status", timeout=10).json()
        assert status["gc_lock_holder"] == jobs[0]["id"]
        assert (
            api.post(f"{lab.url}/api/v0/jobs/{jobs[0]['id']}/cancel", timeout=10).status_code == 204
        )
        # A cancel is a request the worker acts on (cancel_request, then canceled).
        runner = lab.cluster.jobs
        assert runner.wait(
            lambda: getattr(runner.get(jobs[0]["id"]), "status", "") == "canceled", 5
        )
        assert (
            api.get(f"{lab.url}/api/v0/jobs/{jobs[0]['id']}", timeout=10).json()["status"]
            == "canceled"
        )


def test_lab_migration_fails_then_manual_retrigger(make_lab: Callable[..., Lab]) -> None:
    """migration-fails: after 2.5 -> 2.6 the metadatastoremigration errors three times (the job
    and its two retries, linked by retryFromID, retriesLeft counting down); a job POSTed by hand
    then succeeds and online GC becomes enabled."""
    lab = make_lab(scenarios=("migration-fails",))
    assert run_bootstrapper(lab, "2.6.4").returncode == 0
    jobs = lab.cluster.jobs

    def migrations() -> list[dict[str, object]]:
        return [j.to_json() for j in jobs.all() if j.action == "metadatastoremigration"]

    assert jobs.wait(
        lambda: len(migrations()) == 3 and all(j["status"] == "errored" for j in migrations()), 10
    )
    attempts = migrations()
    assert [j["retriesLeft"] for j in attempts] == [2, 1, 0]
    assert {j["retriesTotal"] for j in attempts} == {2}
    assert attempts[0]["retryFromID"] == attempts[0]["id"]
    assert attempts[1]["retryFromID"] == attempts[0]["id"]
    assert attempts[2]["retryFromID"] == attempts[1]["id"]
    with session_for(lab) as api:
        logs = api.get(f"{lab.url}/api/v0/jobs/{attempts[2]['id']}/logs", timeout=10).json()
        assert MIGRATION_ERROR in logs[-1]["data"]
        assert (
            api.get(lab.url + "/api/v0/meta/features", timeout=10).json()["onlineGCEnabled"]
            is False
        )
        manual = api.post(
            lab.url + "/api/v0/jobs", json={"action": "metadatastoremigration"}, timeout=10
        ).json()
        assert jobs.wait(lambda: jobs.get(manual["id"]).status == "done", 10)
        features = api.get(lab.url + "/api/v0/meta/features", timeout=10).json()
        assert features["onlineGCEnabled"] is True
        assert features["metadataStoreOptedIn"] is True


def test_lab_healthy_migration_succeeds_first_time(lab: Lab) -> None:
    """Without the fault the hop's migration is done after one attempt."""
    assert run_bootstrapper(lab, "2.6.4").returncode == 0
    jobs = lab.cluster.jobs
    assert jobs.wait(lambda: all(j.status == "done" for j in jobs.all()), 10)
    assert [(j.action, j.retries_left) for j in jobs.all()] == [("metadatastoremigration", 2)]


@pytest.mark.parametrize("scenario", ["healthy", "vuln-db-update-fails"])
def test_lab_vulnerability_database_update(make_lab: Callable[..., Lab], scenario: str) -> None:
    """An online update runs update_vuln_db; healthy moves db_updated_at forward, the fault
    errors the job and sets lastDBUpdateFailed."""
    lab = make_lab(scenarios=(scenario,))
    jobs = lab.cluster.jobs
    with session_for(lab) as api:
        before = api.get(lab.url + "/api/v0/imagescan/status", timeout=10).json()
        assert before["lastDBUpdateFailed"] is False
        put = api.put(
            lab.url + "/api/v0/imagescan/scan/update", params={"online": "true"}, timeout=10
        )
        assert put.status_code == 200
        assert jobs.wait(lambda: all(j.status in ("done", "errored") for j in jobs.all()), 10)
        job = api.get(
            lab.url + "/api/v0/jobs", params={"action": "update_vuln_db", "limit": 1}, timeout=10
        ).json()["jobs"][0]
        after = api.get(lab.url + "/api/v0/imagescan/status", timeout=10).json()
    if scenario == "healthy":
        assert job["status"] == "done"
        assert after["lastDBUpdateFailed"] is False
        assert after["db_updated_at"] > before["db_updated_at"]
        assert after["db_version"] == before["db_version"] + 1
    else:
        assert job["status"] == "errored"
        assert after["lastDBUpdateFailed"] is True
        assert after["db_updated_at"] == before["db_updated_at"]


def test_lab_offline_vulnerability_database_upload(lab: Lab, api: requests.Session) -> None:
    """?online=false takes a multipart tar (field `file`); anything else is refused."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("cve.db")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"cves"))
    url = lab.url + "/api/v0/imagescan/scan/update"
    bad = api.put(
        url, params={"online": "false"}, files={"file": ("db.tar", b"not a tar")}, timeout=10
    )
    assert bad.status_code == 400
    ok = api.put(
        url, params={"online": "false"}, files={"file": ("db.tar", raw.getvalue())}, timeout=10
    )
    assert ok.status_code == 200
    jobs = lab.cluster.jobs
    assert jobs.wait(lambda: all(j.status == "done" for j in jobs.all()), 10)
    assert jobs.all()[-1].parameters["online"] == "false"


def test_lab_long_outage(make_lab: Callable[..., Lab]) -> None:
    """long-outage: during the upgrade the load-balanced endpoint fails for the configured time
    (8 s by default; 1 s here) in one piece, and the upgrade still completes."""
    lab = make_lab(scenarios=("long-outage",), long_outage_time=1.0, swap_time=0.1)
    assert LabConfig(scenarios=("long-outage",)).effective_outage == 8.0
    parts = urlsplit(lab.url)
    context = ssl.create_default_context(cafile=str(lab.ca_path))
    conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, context=context, timeout=1)
    process = subprocess.Popen(
        bootstrapper_cmd(lab, "2.6.4"),
        env=bootstrapper_env(lab),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    failing_since: float | None = None
    outages: list[float] = []
    try:
        for _ in range(MAX_SAMPLES):
            if process.poll() is not None:
                break
            try:
                conn.request("GET", "/_ping")
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                conn.close()
                ok = False
            now = time.monotonic()
            if not ok and failing_since is None:
                failing_since = now
            elif ok and failing_since is not None:
                outages.append(now - failing_since)
                failing_since = None
            time.sleep(0.01)
        output, _ = process.communicate(timeout=BOOTSTRAPPER_TIMEOUT_S)
    finally:
        conn.close()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert len(outages) == 1, outages
    assert 0.9 < outages[0] < 1.6


def test_lab_data_loss(make_lab: Callable[..., Lab]) -> None:
    """data-loss: after the upgrade exactly one tag is gone, and the lab names it."""
    lab = make_lab(scenarios=("data-loss",))
    before = lab.store.snapshot()
    assert run_bootstrapper(lab, "2.6.4").returncode == 0
    after = lab.store.snapshot()
    missing = [
        f"{repo}:{tag}"
        for repo, tags in before.items()
        for tag in tags
        if tag not in after.get(repo, {})
    ]
    assert missing == lab.lost_tags()
    assert len(missing) == 1
    repo, tag = missing[0].split(":")
    with session_for(lab) as api:
        names = [
            t["name"]
            for t in api.get(f"{lab.url}/api/v0/repositories/{repo}/tags", timeout=10).json()
        ]
    assert tag not in names


def test_lab_slow_replica(make_lab: Callable[..., Lab]) -> None:
    """slow-replica: the bootstrapper succeeds, but the last replica replaced answers 503 and is
    not OK in cluster_status until slow_replica_time has passed on the lab's clock."""
    assert LabConfig().slow_replica_time == 20.0
    lab = make_lab(scenarios=("slow-replica",), slow_replica_time=20.0)
    clock = FakeClock()
    lab.cluster.clock = clock
    assert run_bootstrapper(lab, "2.6.4").returncode == 0
    last = list(lab.replica_urls)[-1]
    pings = ping_all(lab)
    assert pings[last][0] == 503
    assert [status for rid, (status, _) in pings.items() if rid != last] == [200, 200]
    with session_for(lab) as api:
        assert (
            api.get(lab.url + "/api/v0/meta/cluster_status", timeout=10).json()["replica_health"][
                last
            ]
            != "OK"
        )
        clock.now += 19.9
        assert ping_all(lab)[last][0] == 503
        clock.now += 0.2
        assert ping_all(lab)[last][0] == 200
        assert (
            api.get(lab.url + "/api/v0/meta/cluster_status", timeout=10).json()["replica_health"][
                last
            ]
            == "OK"
        )


def test_lab_backup_version_and_age(lab: Lab, tmp_path: Path) -> None:
    """write_backup takes a version and an age; the file's mtime is now - age."""
    path = lab.write_backup(tmp_path, age=timedelta(days=2), version="2.5.10")
    with tarfile.open(path) as tar:
        assert "dtr-backup-v2.5.10/rethink/tags/0" in tar.getnames()
    age = datetime.now(UTC).timestamp() - path.stat().st_mtime
    assert abs(age - 2 * 86400) < 60
