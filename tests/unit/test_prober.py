"""The availability prober: outage derivation on synthetic samples, and sampling over real TLS."""

from __future__ import annotations

import gc
import json
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme

from tests.support.switchable import (
    REGISTRY_AUTHORIZATION,
    SwitchableServer,
    client_context,
    server_context,
)
from upgrade.procedure.outages import Outage, ProbeResult, Sample, derive_outages, summarise
from upgrade.procedure.probe_targets import ProberError, ProbeTarget, endpoint_targets
from upgrade.procedure.prober import Prober

EPOCH = datetime(2026, 11, 26, 20, 0, 0, tzinfo=UTC)


def to_wall(mono: float) -> datetime:
    return EPOCH + timedelta(seconds=mono)


def samples_from(pattern: str, interval: float = 0.1, latency: float = 0.0) -> list[Sample]:
    """One sample per character, `.` ok and `x` failed, sent every `interval` from t=0."""
    return [
        Sample(i * interval, i * interval, ch == ".", 200 if ch == "." else None, latency)
        for i, ch in enumerate(pattern)
    ]


# ------------------------------------------------------------------------------------------
# outage derivation (no network, no sleeping)


def test_no_failures_no_outages() -> None:
    assert derive_outages(samples_from("....."), until=0.5, to_wall=to_wall) == []


def test_an_outage_is_estimated_from_the_midpoints_of_both_brackets() -> None:
    # ok at 0.0..0.4, failed 0.5..1.2 (8 samples), ok again from 1.3.
    outages = derive_outages(samples_from("....." + "x" * 8 + "..."), until=1.6, to_wall=to_wall)
    assert len(outages) == 1
    outage = outages[0]
    assert outage.start_mono == pytest.approx(0.45)
    assert outage.end_mono == pytest.approx(1.25)
    assert outage.duration_s == pytest.approx(0.8)
    assert (outage.failed_samples, outage.ongoing) == (8, False)
    assert outage.as_dict() == {
        "start": "2026-11-26T20:00:00.450Z",
        "end": "2026-11-26T20:00:01.250Z",
        "duration_s": 0.8,
    }


def test_send_times_bracket_the_outage_whatever_the_latencies() -> None:
    """A slow first answer (a new connection's handshake) does not move the estimate."""
    samples = [
        Sample(0.0, 0.0, True, 200, 0.002),
        Sample(0.1, 0.1, False, None, 1.0, "no answer within 1 s"),
        Sample(1.1, 1.1, True, 200, 0.045),
    ]
    (outage,) = derive_outages(samples, until=None, to_wall=to_wall)
    assert outage.start_mono == pytest.approx(0.05)
    assert outage.end_mono == pytest.approx(0.6)


def test_an_outage_open_at_stop_is_ongoing_until_the_stop_time() -> None:
    (outage,) = derive_outages(samples_from("..xxx"), until=0.9, to_wall=to_wall)
    assert outage.ongoing
    assert outage.start_mono == pytest.approx(0.15)
    assert outage.end_mono == pytest.approx(0.9)
    assert outage.describe() == "0.75 s from 20:00:00.1Z, still down at the end"


def test_an_outage_from_the_first_sample_starts_there() -> None:
    (outage,) = derive_outages(samples_from("xxx.."), until=0.5, to_wall=to_wall)
    assert outage.start_mono == pytest.approx(0.0)
    assert outage.end_mono == pytest.approx(0.25)


def test_longest_and_total_outage_and_the_result_json_shape() -> None:
    summary = summarise(
        "lb /_ping (fresh)",
        samples_from(".xx...xxxxx..x."),
        until=1.5,
        to_wall=to_wall,
        skipped_ticks=2,
    )
    assert [round(o.duration_s, 3) for o in summary.outages] == [0.2, 0.5, 0.1]
    assert summary.longest_outage_s == pytest.approx(0.5)
    assert summary.total_outage_s == pytest.approx(0.8)
    assert (summary.samples, summary.failed_samples, summary.skipped_ticks) == (15, 8, 2)
    result = ProbeResult(0.1, EPOCH, EPOCH, {summary.name: summary}, cpu_s=0.0)
    document = json.loads(json.dumps(result.as_dict()))
    assert set(document) == {"interval_s", "endpoints"}
    endpoint = document["endpoints"]["lb /_ping (fresh)"]
    assert set(endpoint) == {"samples", "longest_outage_s", "total_outage_s", "outages"}
    assert endpoint["longest_outage_s"] == 0.5
    assert set(endpoint["outages"][0]) == {"start", "end", "duration_s"}


def test_the_estimate_is_within_half_an_interval_at_each_end() -> None:
    """Whatever the phase of the true outage against the sampling grid."""
    interval = 0.1
    for step in range(20):
        true_start = 1.0 + step * interval / 20
        true_end = true_start + 8.0
        samples = [
            Sample(t, t, not (true_start <= t < true_end), None, 0.0)
            for t in (i * interval for i in range(120))
        ]
        (outage,) = derive_outages(samples, until=None, to_wall=to_wall)
        assert abs(outage.start_mono - true_start) <= interval / 2 + 1e-9
        assert abs(outage.end_mono - true_end) <= interval / 2 + 1e-9
        assert abs(outage.duration_s - 8.0) <= interval + 1e-9


def test_outage_property_is_never_negative() -> None:
    outage = Outage(1.0, 0.5, EPOCH, EPOCH, 1)
    assert outage.duration_s == 0.0


def test_endpoint_targets_names_both_connection_kinds() -> None:
    targets = endpoint_targets(
        "https://dtr.example.com/",
        {"5eb9459a7832": "https://10.0.0.1:443"},
        registry_headers=lambda: {"Authorization": "Bearer t"},
    )
    assert [t.name for t in targets] == [
        "lb /_ping (fresh)",
        "lb /v2/ (fresh)",
        "replica 5eb9459a7832 /_ping (fresh)",
        "lb /_ping (keep-alive)",
        "lb /v2/ (keep-alive)",
        "replica 5eb9459a7832 /_ping (keep-alive)",
    ]
    assert targets[1].url == "https://dtr.example.com/v2/"
    assert targets[1].check == "status"
    assert not targets[0].keep_alive
    assert targets[3].keep_alive
    assert [t.name for t in endpoint_targets("https://dtr")] == [
        "lb /_ping (fresh)",
        "lb /_ping (keep-alive)",
    ]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"interval": 0.0}, "--probe-interval"),
        ({"targets": []}, "at least one target"),
        ({"read_timeout": 0}, "timeouts must be positive"),
        ({"verify": "/no/such/ca.pem"}, "--dtr-ca"),
    ],
)
def test_bad_configuration_is_a_prober_error(kwargs: dict[str, Any], expected: str) -> None:
    arguments: dict[str, Any] = {"targets": endpoint_targets("https://dtr.example.com")}
    arguments.update(kwargs)
    with pytest.raises(ProberError, match=expected):
        Prober(**arguments)


def test_duplicate_names_and_bad_urls_are_refused() -> None:
    target = ProbeTarget("lb", "https://dtr.example.com/_ping", True)
    with pytest.raises(ProberError, match="unique: lb"):
        Prober([target, target])
    with pytest.raises(ProberError, match="absolute"):
        ProbeTarget("lb", "dtr.example.com/_ping", True)


# ------------------------------------------------------------------------------------------
# sampling over real TLS against a server that can be switched off


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[SwitchableServer]:
    instance = SwitchableServer(server_context(ca))
    instance.up()
    yield instance
    instance.close()


@pytest.fixture(name="client_context")
def client_context_fixture(ca: trustme.CA) -> ssl.SSLContext:
    return client_context(ca)


def both_kinds(server: SwitchableServer) -> list[ProbeTarget]:
    return [
        ProbeTarget("fresh", server.url("/_ping"), keep_alive=False),
        ProbeTarget("keep-alive", server.url("/_ping"), keep_alive=True),
    ]


def test_a_switched_off_server_is_measured_within_one_interval(
    server: SwitchableServer, client_context: ssl.SSLContext
) -> None:
    prober = Prober(both_kinds(server), verify=client_context)
    with prober:
        time.sleep(0.4)
        before = time.monotonic()
        server.down()
        went_down = (before + time.monotonic()) / 2
        time.sleep(1.0)
        before = time.monotonic()
        server.up()
        came_up = (before + time.monotonic()) / 2
        time.sleep(0.4)
    true_outage = came_up - went_down
    result = prober.result()
    for name in ("fresh", "keep-alive"):
        endpoint = result.endpoints[name]
        assert len(endpoint.outages) == 1, (name, [s.error for s in prober.samples(name)])
        outage = endpoint.outages[0]
        assert not outage.ongoing
        assert abs(outage.duration_s - true_outage) <= prober.interval + 0.05, name
        assert abs(outage.start_mono - went_down) <= prober.interval
        errors = {s.error for s in prober.samples(name) if not s.ok}
        assert errors <= {
            "connection refused",
            "connection reset",
            "connection closed by the server without an answer",
        }, errors
    assert result.endpoints["fresh"].samples >= 15
    assert result.cpu_s > 0
    json.dumps(result.as_dict())


def test_stop_is_prompt_and_leaves_nothing_open(
    server: SwitchableServer, client_context: ssl.SSLContext
) -> None:
    prober = Prober(both_kinds(server), verify=client_context)
    prober.start()
    time.sleep(0.25)
    began = time.monotonic()
    prober.stop()
    assert time.monotonic() - began < 0.5
    assert not prober.running
    assert not any(t.name.startswith("prober ") for t in threading.enumerate())
    assert all(prober.result().endpoints[n].outages == () for n in ("fresh", "keep-alive"))
    gc.collect()


def test_a_hung_endpoint_is_an_outage_and_missed_ticks_are_skipped(
    server: SwitchableServer, client_context: ssl.SSLContext
) -> None:
    server.hang_s = 5.0
    prober = Prober(
        [ProbeTarget("hung", server.url("/_ping"), keep_alive=True)],
        verify=client_context,
        read_timeout=0.3,
    )
    with prober:
        time.sleep(0.75)
    server.released.set()
    summary = prober.result().endpoints["hung"]
    samples = prober.samples("hung")
    assert {s.error for s in samples} == {"no answer within 0.3 s"}
    assert 2 <= summary.samples <= 4
    assert summary.skipped_ticks >= 4
    assert summary.outages[0].ongoing


def test_ping_unhealthy_401_and_a_failing_token_provider_are_failures(
    server: SwitchableServer, client_context: ssl.SSLContext
) -> None:
    def broken() -> dict[str, str]:
        raise RuntimeError("token service said: password=hunter2")

    server.healthy = False
    targets = [
        ProbeTarget("ping", server.url("/_ping"), True),
        ProbeTarget(
            "v2 good",
            server.url("/v2/"),
            True,
            "status",
            lambda: {"Authorization": REGISTRY_AUTHORIZATION},
        ),
        ProbeTarget(
            "v2 bad", server.url("/v2/"), False, "status", lambda: {"Authorization": "Bearer old"}
        ),
        ProbeTarget("v2 broken", server.url("/v2/"), False, "status", broken),
    ]
    prober = Prober(targets, verify=client_context)
    with prober:
        time.sleep(0.3)
    latest = prober.latest()
    assert latest["ping"] is not None
    assert latest["ping"].error == 'HTTP 200 without "Healthy": true'
    assert latest["v2 good"] is not None
    assert latest["v2 good"].ok
    assert latest["v2 good"].status == 200
    assert latest["v2 bad"] is not None
    assert (latest["v2 bad"].ok, latest["v2 bad"].status) == (False, 401)
    assert latest["v2 bad"].error == "HTTP 401 Unauthorized"
    assert latest["v2 broken"] is not None
    assert latest["v2 broken"].error == "the authentication header provider failed: RuntimeError"
    assert "hunter2" not in json.dumps([s.as_dict() for s in prober.samples("v2 broken")])


def test_an_unverifiable_certificate_is_a_failed_sample(server: SwitchableServer) -> None:
    prober = Prober([ProbeTarget("lb", server.url("/_ping"), False)], verify=True)
    with prober:
        time.sleep(0.15)
    (first, *_) = prober.samples("lb")
    assert not first.ok
    assert first.error is not None
    assert first.error.startswith("TLS verification failed")
