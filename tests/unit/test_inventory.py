"""The repository inventory: concurrent snapshot and comparison against a baseline."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.support.servers import FakeServer, Reply, Seen
from upgrade.clients.dtr import DTRClient
from upgrade.clients.errors import APIError
from upgrade.clients.registry import RegistryClient
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials
from upgrade.cluster.inventory import SnapshotTimedOut, compare, snapshot
from upgrade.errors import HarnessError


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


@pytest.fixture
def dtr(
    server: FakeServer, ca_path: str, dtr_credentials: DTRCredentials, retry: RetryPolicy
) -> Iterator[DTRClient]:
    with DTRClient(server.url, dtr_credentials, verify=ca_path, retry=retry) as client:
        yield client


def serve_repositories(server: FakeServer, names: list[str]) -> None:
    repos = [
        {"id": str(n), "namespace": name.split("/")[0], "name": name.split("/")[1]}
        for n, name in enumerate(names)
    ]

    def page(seen: Seen) -> Reply:
        size = int(seen.query["pageSize"][0])
        start = int(seen.query.get("pageStart", ["0"])[0])
        headers = {"X-Next-Page-Start": str(start + size)} if start + size < len(repos) else {}
        return Reply(200, {"repositories": repos[start : start + size]}, headers)

    server.route("GET", "/api/v0/repositories", page)


def serve_tags(server: FakeServer, repo: str, tags: dict[str, str]) -> None:
    body = [{"name": name, "digest": value} for name, value in tags.items()]
    server.route("GET", f"/api/v0/repositories/{repo}/tags", Reply(200, body))


def test_snapshot_reads_every_repository_concurrently(server: FakeServer, dtr: DTRClient) -> None:
    names = [f"ns/repo{n}" for n in range(12)]
    serve_repositories(server, names)
    barrier = threading.Barrier(4, timeout=10)

    for n, name in enumerate(names):
        body = [{"name": f"v{t}", "digest": digest(n * 10 + t)} for t in range(5)]

        def tags(seen: Seen, body: list[dict[str, str]] = body) -> Reply:
            if seen.path.endswith(("repo0/tags", "repo1/tags", "repo2/tags", "repo3/tags")):
                barrier.wait()  # only passes when four tag lists are in flight at once
            return Reply(200, body)

        server.route("GET", f"/api/v0/repositories/{name}/tags", tags)

    inventory = snapshot(dtr, workers=4)
    assert list(inventory) == sorted(names)
    assert inventory["ns/repo3"] == {f"v{t}": digest(30 + t) for t in range(5)}


def test_a_repository_deleted_meanwhile_is_left_out(server: FakeServer, dtr: DTRClient) -> None:
    serve_repositories(server, ["ns/kept", "ns/gone"])
    serve_tags(server, "ns/kept", {"1": digest(1)})
    assert snapshot(dtr, workers=2) == {"ns/kept": {"1": digest(1)}}


def test_a_tag_without_digest_is_resolved_through_the_registry(
    server: FakeServer,
    dtr: DTRClient,
    ca_path: str,
    dtr_credentials: DTRCredentials,
    retry: RetryPolicy,
) -> None:
    serve_repositories(server, ["ns/app"])
    serve_tags(server, "ns/app", {"1": digest(1), "2": ""})
    server.route(
        "HEAD", "/v2/ns/app/manifests/2", Reply(200, "", {"Docker-Content-Digest": digest(2)})
    )
    with pytest.raises(HarnessError, match="listed tag ns/app:2 without a digest"):
        snapshot(dtr)
    with RegistryClient(server.url, dtr_credentials, verify=ca_path, retry=retry) as registry:
        assert snapshot(dtr, registry) == {"ns/app": {"1": digest(1), "2": digest(2)}}
    assert len(server.seen("HEAD", "/v2/ns/app/manifests/2")) == 1


def test_the_first_error_stops_the_snapshot(server: FakeServer, dtr: DTRClient) -> None:
    serve_repositories(server, ["ns/a", "ns/b"])
    serve_tags(server, "ns/a", {"1": digest(1)})
    server.route("GET", "/api/v0/repositories/ns/b/tags", Reply(403, {"message": "no"}))
    with pytest.raises(HarnessError, match="refused GET /api/v0/repositories/ns/b/tags"):
        snapshot(dtr)


def test_the_snapshot_is_bounded_in_time(server: FakeServer, dtr: DTRClient) -> None:
    serve_repositories(server, ["ns/slow"])
    release = threading.Event()

    def slow(seen: Seen) -> Reply:
        release.wait(timeout=10)
        return Reply(200, [])

    server.route("GET", "/api/v0/repositories/ns/slow/tags", slow)
    try:
        with pytest.raises(SnapshotTimedOut, match=r"within 0\.2 s \(0 of 1 repositories read\)"):
            snapshot(dtr, timeout_s=0.2)
    finally:
        release.set()


def test_snapshot_refuses_zero_workers(dtr: DTRClient) -> None:
    with pytest.raises(HarnessError, match="at least one worker"):
        snapshot(dtr, workers=0)


def test_compare_names_what_is_missing_added_or_changed() -> None:
    baseline = {
        "ns/a": {"1": digest(1), "2": digest(2), "3": digest(3)},
        "ns/gone": {"1": digest(9)},
    }
    current = {
        "ns/a": {"1": digest(1), "2": digest(22), "4": digest(4)},
        "ns/new": {},
    }
    diff = compare(baseline, current)
    assert diff.missing_repositories == ("ns/gone",)
    assert diff.added_repositories == ("ns/new",)
    assert diff.missing_tags == ("ns/a:3",)
    assert diff.added_tags == ("ns/a:4",)
    assert diff.changed_tags == (("ns/a:2", digest(2), digest(22)),)
    assert not diff.intact


def test_compare_identical_and_additions_only() -> None:
    baseline = {"ns/a": {"1": digest(1)}}
    assert compare(baseline, baseline).identical
    grown = compare(baseline, {"ns/a": {"1": digest(1), "2": digest(2)}})
    assert grown.intact
    assert not grown.identical


def test_api_errors_other_than_404_propagate(server: FakeServer, dtr: DTRClient) -> None:
    serve_repositories(server, ["ns/a"])
    server.route("GET", "/api/v0/repositories/ns/a/tags", Reply(400, {"message": "bad"}))
    with pytest.raises(APIError, match="HTTP 400"):
        snapshot(dtr)
