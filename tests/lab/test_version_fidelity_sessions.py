"""Lab sessions where versions behave as on a real DTR (fidelity-review.md 2, 11 and 15):
docs.json reports a build suffix, a multi-hop plan needs other UCP versions between its hops,
and the backup hint names the running version's image repository."""

from __future__ import annotations

from pathlib import Path

from tests.lab.sessions import run_session

APPLY = ("--to-version=2.6.4", "--apply", "--upgrade-backoff=0.2s")


def outcomes(run_result: dict[str, object], check_id: str) -> list[str]:
    checks = run_result["checks"]
    assert isinstance(checks, list)
    return [c["outcome"] for c in checks if c["id"] == check_id]


def test_versions_with_a_build_suffix_upgrade_and_verify(tmp_path: Path) -> None:
    """Replicas report 2.5.11-<build> and then 2.6.4-<build> in docs.json, as a real 2.7.0
    reports 2.7.0-29094adc: the preflight, the plan and POST-REPLICA-VERSIONS compare releases."""
    run = run_session(tmp_path, "--lab-scenario=version-suffix", *APPLY)
    assert run.result["verdict"] == "UPGRADED", run.output
    (before,) = run.checks("PRE-REPLICA-VERSIONS")
    reported = set(before["evidence"]["replica_versions"].values())
    assert len(reported) == 1
    assert reported.pop().startswith("2.5.11-")
    assert run.result["upgrade"]["hops"][0]["to"] == "2.6.4"
    assert outcomes(run.result, "PRE-BACKUP-VERSION") == ["passed"]
    after = run.checks("POST-REPLICA-VERSIONS")
    assert [c["outcome"] for c in after] == ["passed"] * 3
    assert all(c["evidence"]["version"].startswith("2.6.4-") for c in after)


def test_a_build_of_the_target_release_is_nothing_to_upgrade(tmp_path: Path) -> None:
    """2.6.4-<build> -> 2.6.4 is `same`: the session says there is nothing to upgrade instead of
    re-running the bootstrapper."""
    run = run_session(
        tmp_path, "--lab-version=2.6.4", "--lab-scenario=version-suffix", "--to-version=2.6.4"
    )
    assert run.result["verdict"] == "NO-GO"
    (check,) = run.checks("PRE-VERSION-PATH")
    assert check["outcome"] == "failed"
    assert "(same)" in check["message"]
    assert "nothing to upgrade" in check["message"]


def test_a_multi_hop_plan_whose_hops_need_ucp_upgrades_is_no_go(tmp_path: Path) -> None:
    """ucp-too-old on 2.4.12 reports UCP 2.2.17: 2.4.12 -> 2.5.11 -> 2.6.4 needs UCP 3.0 for
    its first hop and UCP 3.1 for its second, and the harness does not upgrade UCP."""
    run = run_session(
        tmp_path,
        "--lab-version=2.4.12",
        "--lab-scenario=ucp-too-old",
        "--allow-multi-hop",
        *APPLY,
    )
    assert run.result["verdict"] == "NO-GO", run.output
    assert "nothing was changed" in run.last_line
    (check,) = run.checks("PRE-UCP-HOPS")
    assert check["outcome"] == "failed"
    message = check["message"]
    assert "hop 1 (2.4.12 -> 2.5.11) needs UCP 3.0 and UCP runs 2.2.17" in message
    assert "hop 2 (2.5.11 -> 2.6.4) needs UCP 3.1" in message
    assert "--to-version=2.5.11" in message
    assert "the harness does not upgrade UCP" in message


def test_a_stop_the_running_ucp_is_not_paired_with_blocks_unless_a_catalogue_pairs_it(
    tmp_path: Path,
) -> None:
    """The lab's UCP 3.1.6 fits the target 2.6.4 but not the stop 2.5.11 (paired with UCP 3.0):
    the sources are silent, so the harness does not park DTR there (fidelity-review.md 11); a
    site catalogue that pairs DTR 2.5 with UCP 3.1 lifts it."""
    plan = ("--lab-version=2.4.12", "--allow-multi-hop", "--to-version=2.6.4")
    blocked = run_session(tmp_path / "blocked", *plan)
    (check,) = blocked.checks("PRE-UCP-HOPS")
    assert check["outcome"] == "failed"
    assert "which the catalogue does not pair with DTR 2.5" in check["message"]
    assert "--catalog FILE" in check["message"]

    site = tmp_path / "site.toml"
    site.write_text('[[ucp]]\ndtr = "2.5"\nucp_min = "3.0"\nucp_max = "3.1"\n', "utf-8")
    paired = run_session(tmp_path / "paired", *plan, f"--catalog={site}")
    assert outcomes(paired.result, "PRE-UCP-HOPS") == ["passed"]


def test_the_backup_hint_names_the_running_versions_repository(tmp_path: Path) -> None:
    """From 2.7.8 the bootstrapper is mirantis/dtr (launchpad msr_config.go), not docker/dtr."""
    run = run_session(
        tmp_path, "--lab-version=2.7.8", "--lab-scenario=no-backup", "--to-version=2.8.13"
    )
    (check,) = run.checks("PRE-BACKUP")
    assert check["outcome"] == "failed"
    assert "docker run -i --rm --log-driver none mirantis/dtr:2.7.8 backup" in check["message"]


def test_replicas_on_a_pre_release_are_not_on_the_release(tmp_path: Path) -> None:
    """A pre-release is not its release (upgrade.rules.versions): replicas on 2.6.4-rc1 after a
    --phase=post session against a 2.5.11 baseline are not on 2.6.4, so POST-REPLICA-VERSIONS
    fails naming the version they run and the session is not UPGRADED."""
    preflight = run_session(tmp_path / "pre", "--to-version=2.6.4")
    assert preflight.result["verdict"] == "GO", preflight.output
    post = run_session(
        tmp_path / "post",
        "--to-version=2.6.4",
        "--phase=post",
        f"--baseline={preflight.bundle / 'baseline.json'}",
        "--lab-version=2.6.4-rc1",
        "--update-vuln-db=online",
    )
    assert post.result["verdict"] != "UPGRADED", post.output
    after = post.checks("POST-REPLICA-VERSIONS")
    assert after
    assert all(c["outcome"] == "failed" for c in after)
    assert all("runs 2.6.4-rc1, not 2.6.4" in c["message"] for c in after)
