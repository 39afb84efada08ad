"""Every DTR response the lab serves validates against the published API contract."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
import requests

from dtrlab import Lab
from dtrlab.contract import load_contract
from tests.lab.conftest import session_for

LINES = ("2.6", "2.7")


def validate(payload: Any, definition: str, line: str = "2.7", array: bool = False) -> None:
    """Validate `payload` against `#/definitions/<definition>` of the `line` contract."""
    contract = load_contract(line)
    ref = {"$ref": f"#/definitions/{definition}"}
    schema = {"type": "array", "items": ref} if array else ref
    jsonschema.Draft4Validator({**schema, "definitions": contract["definitions"]}).validate(payload)


def validate_both(payload: Any, definition: str, array: bool = False) -> None:
    """Validate against the 2.6 and the 2.7 contract (the 2.7 shape satisfies both)."""
    for line in LINES:
        validate(payload, definition, line, array)


ENDPOINTS = (
    ("/api/v0/meta/cluster_status", "responses.ClusterStatus", False),
    ("/api/v0/meta/settings", "responses.Settings", False),
    ("/api/v0/meta/features", "responses.Features", False),
    ("/api/v0/jobs", "tmpresponses.Jobs", False),
    ("/api/v0/jobs?action=gc&worker=any&running=true&start=0&limit=5", "tmpresponses.Jobs", False),
    ("/api/v0/crons", "tmpresponses.Crons", False),
    ("/api/v0/crons/gc", "tmpresponses.Cron", False),
    ("/api/v0/workers", "tmpresponses.Workers", False),
    ("/api/v0/imagescan/status", "responses.NautilusStatus", False),
    ("/api/v0/repositories", "responses.Repositories", False),
    ("/api/v0/repositories?pageSize=2", "responses.Repositories", False),
    ("/api/v0/repositories/admin/alpine", "responses.Repository", False),
    ("/api/v0/repositories/admin/alpine/tags", "responses.ListTag", True),
    ("/api/v0/repositories/engineering/api/tags?pageSize=1", "responses.ListTag", True),
)


@pytest.mark.parametrize(
    "scenarios", [("healthy",), ("gc-running", "replica-unhealthy", "mixed-versions")], ids=",".join
)
@pytest.mark.parametrize(("path", "definition", "array"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_lab_endpoint_matches_contract(
    make_lab: Callable[..., Lab],
    scenarios: tuple[str, ...],
    path: str,
    definition: str,
    array: bool,
) -> None:
    """Through the load balancer and on every replica, each endpoint's body fits the contract."""
    lab = make_lab(scenarios=scenarios)
    with session_for(lab) as api:
        for url in [lab.url, *lab.replica_urls.values()]:
            response = api.get(url + path, timeout=10)
            assert response.status_code == 200, (url + path, response.text)
            assert response.headers["Content-Type"] == "application/json"
            validate_both(response.json(), definition, array)


def test_lab_jobs_and_logs_match_contract(lab: Lab, api: requests.Session) -> None:
    """POST /jobs answers 202 with a Job; GET /jobs/{id} and its logs fit the contract."""
    created = api.post(lab.url + "/api/v0/jobs", json={"action": "sleep"}, timeout=10)
    assert created.status_code == 202
    validate_both(created.json(), "tmpresponses.Job")
    job_id = created.json()["id"]
    assert lab.cluster.jobs.wait(lambda: lab.cluster.jobs.get(job_id).status == "done", 10)
    job = api.get(f"{lab.url}/api/v0/jobs/{job_id}", timeout=10)
    validate_both(job.json(), "tmpresponses.Job")
    logs = api.get(f"{lab.url}/api/v0/jobs/{job_id}/logs", timeout=10)
    validate_both(logs.json(), "tmpresponses.JobLog", array=True)
    assert [line["lineNum"] for line in logs.json()] == list(range(len(logs.json())))


def test_lab_docs_json_reports_each_replicas_version(make_lab: Callable[..., Lab]) -> None:
    """docs.json is the contract with info.version of the replica that served it."""
    lab = make_lab(scenarios=("mixed-versions",))
    versions = lab.replica_versions()
    assert len(set(versions.values())) == 2
    seen_via_lb = set()
    with session_for(lab) as api:
        for rid, url in lab.replica_urls.items():
            docs = api.get(url + "/api/v0/docs.json", auth=None, timeout=10).json()
            assert docs["info"]["version"] == versions[rid]
            assert docs["swagger"] == "2.0"
            assert "/api/v0/meta/cluster_status" in docs["paths"]
        for _ in range(2 * len(versions)):
            seen_via_lb.add(
                api.get(lab.url + "/api/v0/docs.json", timeout=10).json()["info"]["version"]
            )
    assert seen_via_lb == set(versions.values())


def test_lab_errors_use_dtr_error_body(lab: Lab, api: requests.Session) -> None:
    """Errors answer {"errors": [{"code", "message"}]} with the right status."""
    cases = [
        (requests.get, "/api/v0/meta/cluster_status", None, 401, "NOT_AUTHENTICATED"),
        (api.get, "/api/v0/jobs/no-such-job", None, 404, "NO_SUCH_JOB"),
        (api.post, "/api/v0/jobs", {"action": "no-such-action"}, 400, "INVALID_JOB_ACTION"),
        (api.post, "/api/v0/jobs", {"action": "gc", "capacityMap": {"x": "1"}}, 400, "INVALID_JOB"),
        (api.get, "/api/v0/repositories/admin/missing", None, 404, "NO_SUCH_REPOSITORY"),
        (api.get, "/api/v0/repositories?pageStart=not-an-id", None, 400, "INVALID_PARAMETERS"),
        (api.delete, "/api/v0/meta/settings", None, 405, "NOT_ALLOWED"),
    ]
    for call, path, body, status, code in cases:
        kwargs: dict[str, Any] = {"timeout": 10}
        if body is not None:
            kwargs["json"] = body
        if call is requests.get:
            kwargs["verify"] = str(lab.ca_path)
        response = call(lab.url + path, **kwargs)
        assert response.status_code == status, (path, response.text)
        errors = response.json()["errors"]
        assert errors[0]["code"] == code
        assert errors[0]["message"]


def test_lab_accepts_password_token_and_bearer(lab: Lab) -> None:
    """Basic auth with the password or the access token, and /auth/token bearer tokens, work;
    a wrong secret does not."""
    creds = lab.credentials
    path = lab.url + "/api/v0/meta/features"
    for secret in (creds.password, creds.token):
        with session_for(lab, (creds.username, secret)) as api:
            assert api.get(path, timeout=10).status_code == 200
    with session_for(lab, (creds.username, "wrong")) as api:
        assert api.get(path, timeout=10).status_code == 401
        assert api.get(lab.url + "/auth/token", timeout=10).status_code == 401
    with session_for(lab) as api:
        token = api.get(lab.url + "/auth/token", timeout=10).json()["token"]
        api.auth = None
        response = api.get(path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200


def test_lab_repositories_page_with_next_page_start(make_lab: Callable[..., Lab]) -> None:
    """pageSize pages follow X-Next-Page-Start to the end, visiting every repository once."""
    lab = make_lab(repositories=25, tags_per_repo=2)
    names: list[str] = []
    start: str | None = None
    with session_for(lab) as api:
        for _ in range(10):
            params = {"pageSize": "10", "count": "true"} | ({"pageStart": start} if start else {})
            response = api.get(lab.url + "/api/v0/repositories", params=params, timeout=10)
            assert response.headers["X-Resource-Count"] == "25"
            names += [f"{r['namespace']}/{r['name']}" for r in response.json()["repositories"]]
            start = response.headers.get("X-Next-Page-Start")
            if start is None:
                break
    assert len(names) == 25
    assert names == sorted(set(names))


def test_lab_jobs_filter_and_page(lab: Lab, api: requests.Session) -> None:
    """action/running filters and start/limit paging, newest first."""
    ids = [
        api.post(lab.url + "/api/v0/jobs", json={"action": "sleep"}, timeout=10).json()["id"]
        for _ in range(3)
    ]
    api.post(lab.url + "/api/v0/jobs", json={"action": "license_update"}, timeout=10)
    listed = api.get(lab.url + "/api/v0/jobs", params={"action": "sleep"}, timeout=10).json()[
        "jobs"
    ]
    assert [j["id"] for j in listed] == ids[::-1]
    page = api.get(
        lab.url + "/api/v0/jobs", params={"action": "sleep", "start": 1, "limit": 1}, timeout=10
    )
    assert [j["id"] for j in page.json()["jobs"]] == [ids[1]]
    assert lab.cluster.jobs.wait(
        lambda: all(j.status == "done" for j in lab.cluster.jobs.all()), 10
    )
    running = api.get(lab.url + "/api/v0/jobs", params={"running": "true"}, timeout=10).json()[
        "jobs"
    ]
    assert running == []
    done = api.get(lab.url + "/api/v0/jobs", params={"running": "false", "limit": 0}, timeout=10)
    assert len(done.json()["jobs"]) == 4


def test_lab_cluster_status_during_a_swap_matches_contract(make_lab: Callable[..., Lab]) -> None:
    """While a replica is being replaced, cluster_status still fits the contract and shows that
    replica not OK, disconnected in RethinkDB's current_issues and tables not all ready."""
    lab = make_lab(swap_time=5.0)
    rid = next(iter(lab.replica_urls))
    swap = threading.Thread(target=lab.upgrade.replace_replica, args=(rid, "2.6.4"))
    swap.start()
    try:
        assert lab.cluster.wait(lambda: lab.cluster.replicas[rid].state == "swapping", 5)
        with session_for(lab) as api:
            status = api.get(lab.url + "/api/v0/meta/cluster_status", timeout=10).json()
        validate_both(status, "responses.ClusterStatus")
        assert status["replica_health"][rid].startswith("Replica reported health too long ago")
        issues = status["rethink_system_tables"]["current_issues"]
        assert [i["info"]["disconnected_server"] for i in issues] == [f"dtr_rethinkdb_{rid}"]
        tables = status["rethink_system_tables"]["table_status"]
        assert not any(t["status"]["all_replicas_ready"] for t in tables)
        assert all(t["status"]["ready_for_writes"] for t in tables)
    finally:
        lab.cluster.closing.set()
        swap.join(10)


def test_lab_settings_update_turns_scanning_off(lab: Lab, api: requests.Session) -> None:
    """POST /meta/settings answers 202; with scanning off imagescan/status is 400
    SCANNING_NOT_ENABLED and features says so."""
    response = api.post(
        lab.url + "/api/v0/meta/settings", json={"scanningEnabled": False}, timeout=10
    )
    assert response.status_code == 202
    validate_both(response.json(), "responses.Settings")
    status = api.get(lab.url + "/api/v0/imagescan/status", timeout=10)
    assert status.status_code == 400
    assert status.json()["errors"][0]["code"] == "SCANNING_NOT_ENABLED"
    assert api.get(lab.url + "/api/v0/meta/features", timeout=10).json()["scanningEnabled"] is False
    bad = api.post(lab.url + "/api/v0/meta/settings", json={"scanningEnabled": "no"}, timeout=10)
    assert bad.status_code == 400


def test_lab_docs_json_carries_a_build_suffix_under_version_suffix(
    make_lab: Callable[..., Lab],
) -> None:
    """version-suffix: info.version is the release with a build suffix, as the real 2.7.0
    contract's `2.7.0-29094adc` (fidelity-review.md 2); the same build on every replica."""
    lab = make_lab(scenarios=("version-suffix",))
    with session_for(lab) as api:
        reported = {
            api.get(url + "/api/v0/docs.json", auth=None, timeout=10).json()["info"]["version"]
            for url in lab.replica_urls.values()
        }
    (version,) = reported
    release, _, build = version.partition("-")
    assert release == "2.5.11"
    assert len(build) == 8
    assert int(build, 16) >= 0
    assert set(lab.replica_versions().values()) == {"2.5.11"}
