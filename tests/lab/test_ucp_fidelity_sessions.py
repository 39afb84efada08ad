"""The lab behaving as a real DTR and UCP do where the harness used to assume otherwise
(fidelity-review.md 3, 6, 12 and 14): disableUpgrades blocks nothing, UCP's allow_repos lets
the DTR images run with content trust on, admins must be allowed to schedule on managers and
DTR nodes, and replicaSettings' node names need not resolve (UCP's node list has the
addresses)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dtrlab import Lab
from tests.lab.conftest import run_bootstrapper, session_for
from tests.lab.sessions import run_session


def test_upgrades_disabled_is_a_warning_not_a_no_go(tmp_path: Path) -> None:
    run = run_session(tmp_path, "--to-version=2.6.4", "--lab-scenario=upgrades-disabled")
    assert run.result["verdict"] == "GO", run.output
    (check,) = run.checks("PRE-UPGRADE-ENABLED")
    assert check["outcome"] == "passed"
    assert check["evidence"]["disableUpgrades"] is True
    assert any("meaning is undocumented" in note for note in check["notes"])


def test_admin_scheduling_off_is_no_go_naming_the_setting(tmp_path: Path) -> None:
    run = run_session(tmp_path, "--to-version=2.6.4", "--lab-scenario=admin-scheduling-off")
    assert run.result["verdict"] == "NO-GO", run.output
    assert run.failed_ids() == {"PRE-UCP-SCHEDULING"}
    (check,) = run.checks("PRE-UCP-SCHEDULING")
    assert "enable_admin_ucp_scheduling = false" in check["message"]
    assert "Allow administrators to deploy containers" in check["message"]
    assert "PRE-UCP-SCHEDULING" in run.output


def test_content_trust_with_allowed_dtr_repositories_is_go(tmp_path: Path) -> None:
    run = run_session(tmp_path, "--to-version=2.6.4", "--lab-scenario=content-trust-allowed")
    assert run.result["verdict"] == "GO", run.output
    (check,) = run.checks("PRE-CONTENT-TRUST")
    assert check["outcome"] == "passed"
    assert check["evidence"]["content_trust"]["required"] is True
    assert "docker.io/dtrlab/dtr" in check["evidence"]["content_trust"]["allow_repos"]
    assert any("allow_repos lets the upgrade's bootstrapper" in n for n in check["notes"])


def test_unresolvable_node_names_use_ucp_addresses(tmp_path: Path) -> None:
    run = run_session(tmp_path, "--to-version=2.6.4", "--lab-scenario=unresolvable-nodes")
    assert run.result["verdict"] == "GO", run.output
    (check,) = run.checks("PRE-REPLICA-ADDRESSES")
    found = check["evidence"]["replica_addresses"]
    assert len(found) == 3
    for rid, address in found.items():
        assert address["source"] == "UCP's node list (Status.Addr)"
        assert address["node"].startswith("lab-worker-")
        assert address["url"].startswith("https://127.0.0.1:")
        assert f"--replica-url {rid}=" in address["note"]
    assert all(c["outcome"] == "passed" for c in run.checks("PRE-REPLICA-PING"))


def test_upgrade_with_trust_on_and_unresolvable_nodes(tmp_path: Path) -> None:
    """The whole change, as such a site runs it: allowed repositories, disableUpgrades set, and
    replicas found through UCP: the bootstrapper upgrades and the post checks pass."""
    run = run_session(
        tmp_path,
        "--to-version=2.6.4",
        "--apply",
        "--lab-scenario=content-trust-allowed,upgrades-disabled,unresolvable-nodes",
    )
    assert run.result["verdict"] == "UPGRADED", run.output
    assert run.status == 0, run.output


def test_lab_bootstrapper_needs_admin_scheduling(make_lab: Callable[..., Lab]) -> None:
    """admin-scheduling-off: the lab's bootstrapper fails as the real one does (Mirantis
    containers v3.0 "Install MSR"); switched on through config-toml, it upgrades."""
    lab = make_lab(scenarios=("admin-scheduling-off",))
    failed = run_bootstrapper(lab, "2.6.4")
    assert failed.returncode == 1
    assert "could not find any nodes on which the container could be created" in failed.stdout
    with session_for(lab) as ucp:
        ucp.auth = None
        login = ucp.post(
            lab.ucp_url + "/auth/login",
            json={
                "username": lab.credentials.ucp_username,
                "password": lab.credentials.ucp_password,
            },
            timeout=10,
        )
        ucp.headers["Authorization"] = "Bearer " + login.json()["auth_token"]
        url = lab.ucp_url + "/api/ucp/config-toml"
        text = ucp.get(url, timeout=10).text
        assert "enable_admin_ucp_scheduling = false" in text
        on = text.replace("admin_ucp_scheduling = false", "admin_ucp_scheduling = true")
        assert ucp.put(url, data=on, timeout=10).status_code == 200
    assert run_bootstrapper(lab, "2.6.4").returncode == 0


def test_lab_bootstrapper_honours_allow_repos(make_lab: Callable[..., Lab]) -> None:
    """content-trust-allowed: trust is on, the bootstrapper's repository is allowed: it runs."""
    lab = make_lab(scenarios=("content-trust-allowed",))
    assert run_bootstrapper(lab, "2.6.4").returncode == 0


def test_engine_content_trust_of_every_host_is_evidence(tmp_path: Path) -> None:
    """With --hosts, each node's daemon.json content-trust mode is recorded (this machine's
    engine, reached with testinfra's local backend)."""
    run = run_session(tmp_path, "--to-version=2.6.4", "--hosts=local://")
    (check,) = run.checks("PRE-CONTENT-TRUST")
    assert check["outcome"] == "passed", check
    [engine] = check["evidence"]["engine_content_trust"]
    assert engine["host"] == "local://"
    assert engine["mode"] in ("disabled", "permissive", "enforced")
