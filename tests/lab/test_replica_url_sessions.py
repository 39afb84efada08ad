"""--replica-url overrides the address of the replica it names, no more: against a lab as a real
target, the cluster's replicas are still the ones DTR's replicaSettings list, every one is
judged, and an ID that is no replica of this DTR fails PRE-REPLICA-ADDRESSES naming the real
ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dtrlab import Lab
from tests.lab.sessions import run_session
from tests.lab.test_bad_input import lab_args, lab_env, lb_port


def test_one_replica_url_leaves_the_sick_replica_judged(
    tmp_path: Path, make_lab: Callable[..., Lab]
) -> None:
    lab = make_lab(scenarios=("replica-unhealthy",))
    healthy, _, sick = list(lab.replica_urls)
    run = run_session(
        tmp_path,
        *lab_args(lab),
        f"--replica-url={healthy}={lab.replica_urls[healthy]}",
        env=lab_env(lab),
        target=lb_port(lab),
    )
    assert run.result["verdict"] == "NO-GO", run.output
    (count,) = run.checks("PRE-REPLICA-COUNT")
    assert count["evidence"]["count"] == 3
    assert sorted(count["evidence"]["replicas"]) == sorted(lab.replica_urls)
    (check,) = run.checks("PRE-REPLICA-ADDRESSES")
    assert check["outcome"] == "passed", check["message"]
    found = check["evidence"]["replica_addresses"]
    assert found[healthy]["source"] == "--replica-url"
    assert found[sick]["source"] == "UCP's node list (Status.Addr)"
    pings = {c["nodeid"].split("replica=")[1][:12]: c for c in run.checks("PRE-REPLICA-PING")}
    assert sorted(pings) == sorted(lab.replica_urls)
    assert pings[sick]["outcome"] == "failed"
    assert pings[healthy]["outcome"] == "passed"


def test_a_replica_url_for_no_replica_names_the_real_ids(
    tmp_path: Path, make_lab: Callable[..., Lab]
) -> None:
    lab = make_lab()
    run = run_session(
        tmp_path,
        *lab_args(lab),
        "--replica-url=abcdefabcdef=https://127.0.0.1:1",
        env=lab_env(lab),
        target=lb_port(lab),
    )
    assert run.result["verdict"] == "NO-GO", run.output
    (check,) = run.checks("PRE-REPLICA-ADDRESSES")
    assert check["outcome"] == "failed"
    real = ", ".join(sorted(lab.replica_urls))
    assert f"abcdefabcdef is not a replica of this DTR (its replicas: {real})" in check["message"]
    assert sorted(check["evidence"]["replica_addresses"]) == sorted(lab.replica_urls)
    (count,) = run.checks("PRE-REPLICA-COUNT")
    assert count["evidence"]["count"] == 3


def test_a_replica_url_for_no_replica_fails_a_post_only_session_too(
    tmp_path: Path, make_lab: Callable[..., Lab]
) -> None:
    lab = make_lab()
    before = run_session(tmp_path / "pre", *lab_args(lab), env=lab_env(lab), target=lb_port(lab))
    # NO-GO here (no backup, no engine), but PRE-BASELINE recorded the cluster before.
    assert (before.bundle / "baseline.json").is_file(), before.output
    post = run_session(
        tmp_path / "post",
        *lab_args(lab),
        "--phase=post",
        f"--baseline={before.bundle / 'baseline.json'}",
        "--replica-url=abcdefabcdef=https://127.0.0.1:1",
        env=lab_env(lab),
        target=lb_port(lab),
    )
    assert post.result["verdict"] == "VERIFY-FAILED", post.output
    (check,) = post.checks("POST-REPLICA-ADDRESSES")
    assert check["outcome"] == "failed"
    real = ", ".join(sorted(lab.replica_urls))
    assert f"abcdefabcdef is not a replica of this DTR (its replicas: {real})" in check["message"]
