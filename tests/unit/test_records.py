"""The session record's typed results and their result.json form."""

from __future__ import annotations

from datetime import UTC, datetime

from upgrade.cluster.engine_evidence import EngineEvidence
from upgrade.evidence import compare
from upgrade.evidence.records import SessionRecord
from upgrade.procedure.outages import EndpointSummary, ProbeResult
from upgrade.procedure.procedure import UpgradeRecord

ENGINE = {
    "engine": "unix:///run/docker.sock",
    "registry": "127.0.0.1:5000",
    "containers": {"5eb9459a7832": [{"name": "a", "id": "2", "image": "i:2", "version": "2"}]},
    "replacements": [
        {
            "replica": "5eb9459a7832",
            "from_version": "1",
            "to_version": "2",
            "old": [{"name": "a", "id": "1", "image": "i:1", "version": "1"}],
            "new": [{"name": "a", "id": "2", "image": "i:2", "version": "2"}],
            "removed_at": "2026-11-27T22:00:00.000Z",
            "created_at": "2026-11-27T22:00:01.000Z",
        }
    ],
    "errors": [],
}


def probe_result() -> ProbeResult:
    names = ["lb /_ping (fresh)", "lb /v2/ (keep-alive)", "replica 5eb9459a7832 /_ping (fresh)"]
    return ProbeResult(
        interval_s=0.1,
        started_at=datetime(2026, 11, 27, 22, tzinfo=UTC),
        stopped_at=None,
        endpoints={n: EndpointSummary(n, 10, 0, 0, ()) for n in names},
        cpu_s=0.0,
    )


def test_a_record_without_results_has_none_of_their_keys() -> None:
    data = SessionRecord(target="lab", mode="upgrade").as_dict()
    assert not {"upgrade", "engine", "availability", "comparison"} & set(data)


def test_each_result_is_written_under_its_own_key_after_the_record_fields() -> None:
    record = SessionRecord(target="lab", mode="upgrade", verdict="UPGRADED")
    record.upgrade = UpgradeRecord(state="passed")
    record.engine = EngineEvidence.of(ENGINE)
    record.availability = probe_result()
    record.comparison = compare.Comparison.unavailable("no earlier bundle for 'latest'")
    record.planned_image = "docker/dtr:2.6.4"
    record.ucp_url = "https://ucp.example.com"
    data = record.as_dict()
    assert list(data)[-4:] == ["upgrade", "engine", "availability", "comparison"]
    assert data["verdict"] == "UPGRADED"
    assert data["upgrade"]["state"] == "passed"
    assert data["engine"] == ENGINE
    assert data["availability"] == record.availability.as_dict()
    assert data["comparison"] == {"previous": None, "note": "no earlier bundle for 'latest'"}
    assert "planned_image" not in data
    assert "ucp_url" not in data


def test_the_load_balanced_endpoints_are_those_of_the_lb() -> None:
    assert sorted(probe_result().load_balanced()) == ["lb /_ping (fresh)", "lb /v2/ (keep-alive)"]


def test_engine_evidence_names_the_replacements_off_a_version() -> None:
    (swap,) = EngineEvidence.of(ENGINE).replaced("1")
    assert (swap.replica, swap.old[0].id, swap.new[0].id) == ("5eb9459a7832", "1", "2")
