"""The DTR client against a scripted HTTPS server shaped like the DTR 2.7 API."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.servers import PASSWORD, FakeServer, Reply, Seen
from upgrade.clients.dtr import DTRClient, Ping
from upgrade.clients.dtr_records import Job
from upgrade.clients.errors import APIError, AuthenticationFailed, BadResponse
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials, Redactor
from upgrade.errors import HarnessError

JOB = {
    "id": "1fcf4c0f-aaaa",
    "retryFromID": "1fcf4c0f-0000",
    "workerID": "5eb9459a7832",
    "status": "done",
    "scheduledAt": "2017-02-17T01:09:47.771Z",
    "lastUpdated": "2017-02-17T01:10:14.117Z",
    "action": "metadatastoremigration",
    "retriesLeft": 0,
    "retriesTotal": 2,
    "capacityMap": {},
    "parameters": {},
    "deadline": "",
    "stopTimeout": "",
}

CLUSTER_STATUS = {
    "rethink_system_tables": {
        "current_issues": [],
        "table_status": [
            {"db": "dtr2", "name": "tags", "status": {"all_replicas_ready": True}},
            {"db": "jobrunner", "name": "jobs", "status": {"all_replicas_ready": True}},
        ],
    },
    "replica_health": {"5eb9459a7832": "OK", "a1b2c3d4e5f6": "OK"},
    "replica_timestamp": {"5eb9459a7832": "2019-07-23T10:00:00Z"},
    "replica_readonly": {"5eb9459a7832": False, "a1b2c3d4e5f6": False},
    "gc_lock_holder": "",
}


@pytest.fixture
def dtr(
    server: FakeServer, ca_path: str, dtr_credentials: DTRCredentials, retry: RetryPolicy
) -> Iterator[DTRClient]:
    with DTRClient(server.url, dtr_credentials, verify=ca_path, retry=retry) as client:
        yield client


def test_ping_healthy_and_unhealthy_are_results(server: FakeServer, dtr: DTRClient) -> None:
    server.route(
        "GET",
        "/_ping",
        Reply(200, {"Healthy": True, "Error": ""}),
        Reply(503, {"Healthy": False, "Error": "rethinkdb: not reachable"}),
    )
    healthy = dtr.ping()
    assert (healthy.healthy, healthy.status, healthy.error) == (True, 200, "")
    sick = dtr.ping(url=server.url)
    assert (sick.healthy, sick.status, sick.error) == (False, 503, "rethinkdb: not reachable")
    assert len(server.seen("GET", "/_ping")) == 2, "a 503 ping is an answer, not retried"


def test_ping_through_a_failing_proxy_is_unhealthy(server: FakeServer, dtr: DTRClient) -> None:
    server.route("GET", "/_ping", Reply(502, "<html>502 Bad Gateway</html>"), Reply(503, ""))
    assert dtr.ping() == Ping(False, "<html>502 Bad Gateway</html>", 502)
    assert dtr.ping() == Ping(False, "HTTP 503", 503)


def test_ping_200_without_json_is_a_bad_response(server: FakeServer, dtr: DTRClient) -> None:
    server.route("GET", "/_ping", Reply(200, "OK"))
    with pytest.raises(BadResponse, match="GET /_ping with invalid JSON"):
        dtr.ping()


def test_version_from_docs_json(server: FakeServer, dtr: DTRClient) -> None:
    server.route("GET", "/api/v0/docs.json", Reply(200, {"info": {"version": "2.7.0-29094adc"}}))
    assert dtr.version() == "2.7.0-29094adc"


def test_version_without_info_is_a_bad_response(server: FakeServer, dtr: DTRClient) -> None:
    server.route("GET", "/api/v0/docs.json", Reply(200, {"swagger": "2.0"}))
    with pytest.raises(BadResponse, match=r"GET /api/v0/docs\.json with no 'info' field"):
        dtr.version()


def test_cluster_status_healthy(server: FakeServer, dtr: DTRClient) -> None:
    server.route("GET", "/api/v0/meta/cluster_status", Reply(200, CLUSTER_STATUS))
    status = dtr.cluster_status()
    assert status.healthy
    assert status.tables_ready
    assert status.replica_health == {"5eb9459a7832": "OK", "a1b2c3d4e5f6": "OK"}
    assert status.replica_readonly == {"5eb9459a7832": False, "a1b2c3d4e5f6": False}
    assert status.raw == CLUSTER_STATUS


def test_cluster_status_unhealthy(server: FakeServer, dtr: DTRClient) -> None:
    sick = {
        **CLUSTER_STATUS,
        "rethink_system_tables": {
            "current_issues": [{"type": "table_availability", "critical": True}],
            "table_status": [
                {"db": "dtr2", "name": "tags", "status": {"all_replicas_ready": False}}
            ],
        },
        "current_issues": [{"critical": False, "description": "not reachable: dtr_rethinkdb_a1"}],
        "replica_health": {"5eb9459a7832": "OK", "a1b2c3d4e5f6": "replica reported too long ago"},
        "gc_lock_holder": "onlinegc",
    }
    server.route("GET", "/api/v0/meta/cluster_status", Reply(200, sick))
    status = dtr.cluster_status()
    assert not status.healthy
    assert status.unhealthy_replicas == {"a1b2c3d4e5f6": "replica reported too long ago"}
    assert status.tables_not_ready == ("dtr2.tags",)
    assert len(status.current_issues) == 2
    assert status.gc_lock_holder == "onlinegc"


def test_cluster_status_wrong_shape(server: FakeServer, dtr: DTRClient) -> None:
    server.route("GET", "/api/v0/meta/cluster_status", Reply(200, ["not", "an", "object"]))
    with pytest.raises(BadResponse, match="a JSON array where an object was expected"):
        dtr.cluster_status()
    server.route(
        "GET",
        "/api/v0/meta/cluster_status",
        Reply(200, {**CLUSTER_STATUS, "replica_health": {"a": 1}}),
    )
    with pytest.raises(BadResponse, match=r"replica_health\.a of the wrong type"):
        dtr.cluster_status()


def test_settings_and_features(server: FakeServer, dtr: DTRClient) -> None:
    server.route(
        "GET",
        "/api/v0/meta/settings",
        Reply(
            200,
            {
                "dtrHost": "dtr.example.com",
                "replicaID": "5eb9459a7832",
                "replicaSettings": {
                    "a1b2c3d4e5f6": {"HTTPPort": 80, "HTTPSPort": 443, "node": "node-2"},
                    "5eb9459a7832": {"HTTPPort": 81, "HTTPSPort": 4443, "node": "node-1"},
                },
                "scanningEnabled": True,
                "scanningSyncOnline": True,
                "readOnlyRegistry": False,
            },
        ),
    )
    server.route(
        "GET",
        "/api/v0/meta/features",
        Reply(
            200,
            {
                "scanningEnabled": True,
                "scanningLicensed": True,
                "promotionLicensed": True,
                "mirroringLicensed": True,
                "metadataStoreOptedIn": True,
                "onlineGCEnabled": True,
                "db_version": 7,
                "ucpHost": "ucp.example.com",
            },
        ),
    )
    settings = dtr.settings()
    assert settings.replica_ids == ("5eb9459a7832", "a1b2c3d4e5f6")
    assert settings.replicas[0].https_port == 4443
    assert settings.replicas[0].node == "node-1"
    assert settings.dtr_host == "dtr.example.com"
    assert settings.scanning_enabled
    assert settings.scanning_sync_online
    assert not settings.read_only_registry
    features = dtr.features()
    assert features.online_gc_enabled
    assert features.metadata_store_opted_in
    assert features.db_version == 7
    assert features.ucp_host == "ucp.example.com"


def test_jobs_are_paged_with_start_and_limit(server: FakeServer, dtr: DTRClient) -> None:
    all_jobs = [{**JOB, "id": f"job-{n}"} for n in range(7)]

    def page(seen: Seen) -> Reply:
        start = int(seen.query["start"][0])
        limit = int(seen.query["limit"][0])
        return Reply(200, {"jobs": all_jobs[start : start + limit]})

    server.route("GET", "/api/v0/jobs", page)
    jobs = dtr.jobs(action="metadatastoremigration", page_size=3)
    assert [job.id for job in jobs] == [f"job-{n}" for n in range(7)]
    requests = server.seen("GET", "/api/v0/jobs")
    assert [r.query["start"][0] for r in requests] == ["0", "3", "6"]
    assert requests[0].query["action"] == ["metadatastoremigration"]
    assert requests[0].query["running"] == ["any"]
    assert requests[0].query["worker"] == ["any"]


def test_jobs_are_bounded_by_limit(server: FakeServer, dtr: DTRClient) -> None:
    server.route("GET", "/api/v0/jobs", lambda seen: Reply(200, {"jobs": [JOB] * 50}))
    assert len(dtr.jobs(limit=120, page_size=50)) == 120
    assert len(server.seen("GET", "/api/v0/jobs")) == 3


def test_job_fields(server: FakeServer, dtr: DTRClient) -> None:
    server.route("GET", "/api/v0/jobs/1fcf4c0f-aaaa", Reply(200, JOB))
    job = dtr.job("1fcf4c0f-aaaa")
    assert job.action == "metadatastoremigration"
    assert job.worker_id == "5eb9459a7832"
    assert job.scheduled_at == datetime(2017, 2, 17, 1, 9, 47, 771000, tzinfo=UTC)
    assert job.retries_total == 2
    assert job.retry_from_id == "1fcf4c0f-0000"
    assert job.done
    assert job.finished
    assert not job.failed
    assert not job.pending


@pytest.mark.parametrize(
    ("status", "done", "failed", "pending", "interrupted"),
    [
        ("done", True, False, False, False),
        ("waiting", False, False, True, False),
        ("running", False, False, True, False),
        ("errored", False, True, False, False),
        ("error", False, True, False, False),
        ("canceled", False, True, False, False),
        ("cancel", False, True, False, False),
        # Transitional: the worker acts on the request (fidelity-review.md 8).
        ("cancel_request", False, False, True, False),
        ("deleted", False, True, False, False),
        # The worker went away; another replica may claim the job (job-queue.md).
        ("worker_dead", False, False, False, True),
        ("worker_shutdown", False, False, False, True),
        ("worker_resurrection", False, False, False, True),
    ],
)
def test_both_job_status_vocabularies(
    status: str, done: bool, failed: bool, pending: bool, interrupted: bool
) -> None:
    job = Job("id", "gc", status, "", None, None, 0, 0, "", raw={})
    assert (job.done, job.failed, job.pending, job.interrupted) == (
        done,
        failed,
        pending,
        interrupted,
    )
    assert job.finished == (done or failed)


def test_job_logs_accept_data_and_Data(server: FakeServer, dtr: DTRClient) -> None:  # noqa: N802
    server.route(
        "GET",
        "/api/v0/jobs/new/logs",
        Reply(200, [{"data": "second", "lineNum": 2}, {"data": "first", "lineNum": 1}]),
    )
    server.route("GET", "/api/v0/jobs/old/logs", Reply(200, [{"Data": "old line", "LineNum": 0}]))
    assert [line.data for line in dtr.job_logs("new")] == ["first", "second"]
    assert [line.data for line in dtr.job_logs("old")] == ["old line"]


def test_job_ids_cannot_change_the_path(server: FakeServer, dtr: DTRClient) -> None:
    with pytest.raises(APIError, match="HTTP 404"):
        dtr.job("../meta/settings")
    assert server.requests[0].path == "/api/v0/jobs/..%2Fmeta%2Fsettings"
    with pytest.raises(HarnessError, match="DTR answered an empty"):
        dtr.job("")


def test_submit_job_posts_once(server: FakeServer, dtr: DTRClient) -> None:
    server.route("POST", "/api/v0/jobs", Reply(202, {**JOB, "status": "waiting"}))
    job = dtr.submit_job("metadatastoremigration")
    assert job.pending
    [request] = server.seen("POST", "/api/v0/jobs")
    assert request.body == b'{"action": "metadatastoremigration"}'


def test_submit_job_failure_is_not_retried(server: FakeServer, dtr: DTRClient) -> None:
    server.route("POST", "/api/v0/jobs", Reply(503, "busy"))
    with pytest.raises(APIError, match="POST /api/v0/jobs with HTTP 503: busy"):
        dtr.submit_job("metadatastoremigration", {"x": "y"})
    assert len(server.seen("POST", "/api/v0/jobs")) == 1


def test_crons(server: FakeServer, dtr: DTRClient) -> None:
    server.route(
        "GET",
        "/api/v0/crons",
        Reply(
            200,
            {
                "crons": [
                    {
                        "id": "c1",
                        "action": "update_vuln_db",
                        "schedule": "45 35 19 * * *",
                        "retries": 2,
                        "nextRun": "2019-07-24T19:35:45Z",
                    }
                ]
            },
        ),
    )
    [cron] = dtr.crons()
    assert (cron.action, cron.schedule, cron.retries) == ("update_vuln_db", "45 35 19 * * *", 2)
    assert cron.next_run == datetime(2019, 7, 24, 19, 35, 45, tzinfo=UTC)


def test_imagescan_status(server: FakeServer, dtr: DTRClient) -> None:
    server.route(
        "GET",
        "/api/v0/imagescan/status",
        Reply(
            200,
            {
                "state": 0,
                "scanner_version": 3,
                "scannerUpdatedAt": "2019-07-23T10:00:00Z",
                "db_version": 264,
                "db_updated_at": "2019-07-23T11:00:00Z",
                "lastDBUpdateFailed": False,
                "lastVulnOverridesDBUpdateFailed": False,
            },
        ),
    )
    status = dtr.imagescan_status()
    assert status is not None
    assert status.db_version == 264
    assert status.db_updated_at == datetime(2019, 7, 23, 11, tzinfo=UTC)
    assert not status.last_db_update_failed


def test_imagescan_status_when_scanning_is_off(server: FakeServer, dtr: DTRClient) -> None:
    server.route(
        "GET",
        "/api/v0/imagescan/status",
        Reply(400, {"errors": [{"code": "SCANNING_NOT_ENABLED", "message": "off"}]}),
    )
    assert dtr.imagescan_status() is None


def test_update_vuln_db_online(server: FakeServer, dtr: DTRClient) -> None:
    server.route("PUT", "/api/v0/imagescan/scan/update", Reply(200, ""))
    dtr.update_vuln_db()
    [request] = server.seen("PUT", "/api/v0/imagescan/scan/update")
    assert request.query == {"online": ["true"]}


def test_update_vuln_db_offline_uploads_the_file(
    server: FakeServer, dtr: DTRClient, tmp_path: Path
) -> None:
    database = tmp_path / "cve.tar"
    database.write_bytes(b"tar-bytes-of-the-database")
    server.route("PUT", "/api/v0/imagescan/scan/update", Reply(200, ""))
    dtr.update_vuln_db(online=False, file=database)
    [request] = server.seen("PUT", "/api/v0/imagescan/scan/update")
    assert request.query == {"online": ["false"]}
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="file"; filename="cve.tar"' in request.body
    assert b"tar-bytes-of-the-database" in request.body


def test_update_vuln_db_refuses_bad_input(dtr: DTRClient, tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no such file"):
        dtr.update_vuln_db(online=False, file=tmp_path / "missing.tar")
    with pytest.raises(HarnessError, match="needs online=False"):
        dtr.update_vuln_db(online=True, file=tmp_path / "missing.tar")


def _paged(items: list[dict[str, str]], key: str | None) -> Callable[[Seen], Reply]:
    def page(seen: Seen) -> Reply:
        size = int(seen.query["pageSize"][0])
        start = int(seen.query.get("pageStart", ["0"])[0])
        chunk = items[start : start + size]
        headers = {"X-Next-Page-Start": str(start + size)} if start + size < len(items) else {}
        return Reply(200, {key: chunk} if key else chunk, headers)

    return page


def test_repositories_follow_next_page_start(server: FakeServer, dtr: DTRClient) -> None:
    repos = [{"id": str(n), "namespace": "ns", "name": f"repo{n}"} for n in range(25)]
    server.route("GET", "/api/v0/repositories", _paged(repos, "repositories"))
    listed = dtr.repositories(page_size=10)
    assert [repo.full_name for repo in listed] == [f"ns/repo{n}" for n in range(25)]
    starts = [r.query.get("pageStart") for r in server.seen("GET", "/api/v0/repositories")]
    assert starts == [None, ["10"], ["20"]]


def test_repositories_follow_the_header_past_a_short_page(
    server: FakeServer, dtr: DTRClient
) -> None:
    """A listing filtered to what the client may see has short pages with more after them;
    only the absence of X-Next-Page-Start ends it (fidelity-review.md 14)."""
    first = {"repositories": [{"id": "1", "namespace": "ns", "name": "a"}]}
    empty: dict[str, list[object]] = {"repositories": []}
    last = {"repositories": [{"id": "3", "namespace": "ns", "name": "c"}]}
    server.route(
        "GET",
        "/api/v0/repositories",
        Reply(200, first, {"X-Next-Page-Start": "2"}),
        Reply(200, empty, {"X-Next-Page-Start": "3"}),
        Reply(200, last),
    )
    assert [r.name for r in dtr.repositories(page_size=10)] == ["a", "c"]
    starts = [r.query.get("pageStart") for r in server.seen("GET", "/api/v0/repositories")]
    assert starts == [None, ["2"], ["3"]]


def test_tags_follow_the_header_past_a_short_page(server: FakeServer, dtr: DTRClient) -> None:
    tag = {"name": "v1", "digest": "sha256:" + "a" * 64, "updatedAt": "2019-07-23T10:00:00Z"}
    path = "/api/v0/repositories/ns/a/tags"
    server.route(
        "GET",
        path,
        Reply(200, [tag], {"X-Next-Page-Start": "v2"}),
        Reply(200, [{**tag, "name": "v2"}]),
    )
    assert [t.name for t in dtr.tags("ns", "a", page_size=10)] == ["v1", "v2"]


def test_jobs_follow_a_next_page_start_after_a_short_page(
    server: FakeServer, dtr: DTRClient
) -> None:
    server.route(
        "GET",
        "/api/v0/jobs",
        Reply(200, {"jobs": [JOB]}, {"X-Next-Page-Start": "5"}),
        Reply(200, {"jobs": [{**JOB, "id": "second"}]}),
    )
    assert [j.id for j in dtr.jobs(page_size=10)] == [JOB["id"], "second"]
    assert [r.query["start"] for r in server.seen("GET", "/api/v0/jobs")] == [["0"], ["5"]]


def test_repositories_paging_loop_is_detected(server: FakeServer, dtr: DTRClient) -> None:
    page = {"repositories": [{"id": "1", "namespace": "ns", "name": "a"}]}
    server.route("GET", "/api/v0/repositories", Reply(200, page, {"X-Next-Page-Start": "1"}))
    with pytest.raises(BadResponse, match="page start '1' twice"):
        dtr.repositories(page_size=1)


def test_repositories_paging_is_bounded(server: FakeServer, dtr: DTRClient) -> None:
    def endless(seen: Seen) -> Reply:
        start = int(seen.query.get("pageStart", ["0"])[0])
        repo = {"id": str(start), "namespace": "ns", "name": f"r{start}"}
        return Reply(200, {"repositories": [repo]}, {"X-Next-Page-Start": str(start + 1)})

    server.route("GET", "/api/v0/repositories", endless)
    with pytest.raises(HarnessError, match="did not end within 5 pages of 1"):
        dtr.repositories(page_size=1, max_pages=5)


def test_tags_with_digests(server: FakeServer, dtr: DTRClient) -> None:
    tags = [
        {"name": f"t{n}", "digest": f"sha256:{n:064x}", "updatedAt": "2019-07-23T10:00:00Z"}
        for n in range(12)
    ]
    server.route("GET", "/api/v0/repositories/ns/app/tags", _paged(tags, None))
    listed = dtr.tags("ns", "app", page_size=5)
    assert [(tag.name, tag.digest) for tag in listed] == [
        (tag["name"], tag["digest"]) for tag in tags
    ]


def test_wrong_password_message_and_logs_hold_no_secret(
    server: FakeServer,
    ca_path: str,
    retry: RetryPolicy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    credentials = DTRCredentials.of("admin", password=PASSWORD)
    redactor = Redactor()
    server.route("GET", "/api/v0/meta/settings", Reply(401, f"no user admin:{PASSWORD}"))
    with (
        caplog.at_level(logging.DEBUG),
        DTRClient(server.url, credentials, verify=ca_path, retry=retry, redactor=redactor) as dtr,
        pytest.raises(AuthenticationFailed) as info,
    ):
        dtr.settings()
    assert str(info.value) == (
        "DTR rejected the credentials of DTR_USERNAME=admin with DTR_PASSWORD (401: no user "
        "admin:****); check DTR_USERNAME and DTR_PASSWORD/DTR_TOKEN"
    )
    for text in (str(info.value), repr(info.value), repr(dtr), caplog.text):
        assert PASSWORD not in text
    assert redactor.redact(PASSWORD) == "****", "the client registered its secret"


def test_token_is_sent_when_set(server: FakeServer, ca_path: str, retry: RetryPolicy) -> None:
    credentials = DTRCredentials.of("admin", password=PASSWORD, token="tok-abcdef123456")
    server.route("GET", "/api/v0/meta/features", Reply(401, ""))
    with (
        DTRClient(server.url, credentials, verify=ca_path, retry=retry) as dtr,
        pytest.raises(AuthenticationFailed, match="DTR_USERNAME=admin with DTR_TOKEN"),
    ):
        dtr.features()
    sent = server.seen("GET", "/api/v0/meta/features")[0].headers["authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")) == b"admin:tok-abcdef123456"
