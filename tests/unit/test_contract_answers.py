"""Any answer that fits the real DTR 2.6/2.7 contract, however odd, is either parsed or refused
in the harness's own words: one line, no raw library message, never another exception.

Answers are generated from the contract's schemas (tests/support/contract.py, extracted from
../shared/dtr-api/) and served by the scripted HTTPS server to the real clients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.contract import VERSIONS, docs_strategy, root_strategy
from tests.support.servers import FakeServer, Reply
from upgrade.clients.dtr import DTRClient
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials, UCPCredentials
from upgrade.cluster.target import Endpoints, Target
from upgrade.errors import HarnessError

RAW = (
    "ValueError",
    "KeyError",
    "TypeError",
    "AttributeError",
    "LocationParseError",
    "Expecting value",
    "could not be cast",
    "Traceback",
)
BOUNDED = settings(
    max_examples=40,
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def judged(call: Callable[[], Any]) -> Any:
    """The call's value, or its `HarnessError` after checking the message is the harness's."""
    try:
        return call()
    except HarnessError as error:
        message = str(error)
        assert message, "an error without a message"
        assert "\n" not in message, message
        assert not any(raw in message for raw in RAW), message
        return error


@pytest.fixture
def dtr(server: FakeServer, ca_path: str, dtr_credentials: DTRCredentials) -> DTRClient:
    return DTRClient(server.url, dtr_credentials, verify=ca_path, retry=RetryPolicy.none())


Test = Callable[..., None]


def contract_answers(test: Test) -> Test:
    """Run `test` for every contract version, on `BOUNDED` answers drawn from `data`."""
    return pytest.mark.parametrize("version", VERSIONS)(BOUNDED(given(data=st.data())(test)))


def answer(server: FakeServer, path: str, data: st.DataObject, version: str, root: str) -> None:
    """Serve GET `path` with an answer drawn from the contract's `root` response schema."""
    server.route("GET", path, Reply(200, data.draw(root_strategy(version, root))))


@pytest.fixture
def fresh_target(
    server: FakeServer,
    ca_path: str,
    dtr_credentials: DTRCredentials,
    ucp_credentials: UCPCredentials,
) -> Callable[[], Any]:
    """A new Target on the server for each example (a target reads settings and UCP once)."""

    @contextmanager
    def make() -> Iterator[Target]:
        endpoints = Endpoints(dtr_url=server.url, ucp_url=None, dtr_ca=Path(ca_path))
        target = Target(endpoints, dtr_credentials, ucp_credentials, retry=RetryPolicy.none())
        try:
            yield target
        finally:
            target.close()

    return make


@contract_answers
def test_features_and_the_ucp_address(
    server: FakeServer, fresh_target: Callable[[], Any], version: str, data: st.DataObject
) -> None:
    answer(server, "/api/v0/meta/features", data, version, "features")
    with fresh_target() as target:
        judged(target.dtr().features)
        url = judged(target.ucp_url)
        assert isinstance(url, HarnessError) or url.startswith("https://")


@contract_answers
def test_settings_and_the_replica_addresses(
    server: FakeServer, fresh_target: Callable[[], Any], version: str, data: st.DataObject
) -> None:
    answer(server, "/api/v0/meta/settings", data, version, "settings")
    with fresh_target() as target:
        judged(target.dtr().settings)
        urls = judged(target.replica_urls)
        if isinstance(urls, dict):
            for url in urls.values():
                judged(lambda url=url: target.dtr().ping(url))


@contract_answers
def test_cluster_status(
    server: FakeServer, dtr: DTRClient, version: str, data: st.DataObject
) -> None:
    answer(server, "/api/v0/meta/cluster_status", data, version, "cluster_status")
    status = judged(dtr.cluster_status)
    if not isinstance(status, HarnessError):
        assert isinstance(status.healthy, bool)


@contract_answers
def test_repositories_and_tags(
    server: FakeServer, dtr: DTRClient, version: str, data: st.DataObject
) -> None:
    answer(server, "/api/v0/repositories", data, version, "repositories")
    answer(server, "/api/v0/repositories/ns/repo/tags", data, version, "tags")
    judged(dtr.repositories)
    judged(lambda: dtr.tags("ns", "repo"))


@contract_answers
def test_jobs(server: FakeServer, dtr: DTRClient, version: str, data: st.DataObject) -> None:
    answer(server, "/api/v0/jobs", data, version, "jobs")
    answer(server, "/api/v0/jobs/j1", data, version, "job")
    jobs = judged(lambda: dtr.jobs(limit=10))
    if isinstance(jobs, list):
        for job in jobs:
            assert isinstance(job.failed, bool)
    judged(lambda: dtr.job("j1"))


@contract_answers
def test_docs_version(
    server: FakeServer, dtr: DTRClient, version: str, data: st.DataObject
) -> None:
    server.route("GET", "/api/v0/docs.json", Reply(200, data.draw(docs_strategy(version))))
    judged(dtr.version)
