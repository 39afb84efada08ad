"""PRE-NO-UPGRADE-RUNNING in real sessions: the check module of checks/, the docker SDK talking
to a scripted engine on a unix socket, and a target whose UCP address is given."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Imported here, outside the in-process sessions: pytester drops the modules a session imported
# when it ends, and a docker SDK imported afresh next time would mix with the old requests.
import docker  # noqa: F401
import pytest

from tests.support.fake_engine import EngineScript, FakeContainer, fake_engine
from tests.support.pytester_checks import run_for_record

pytest_plugins = ["pytester"]

CHECK = Path(__file__).resolve().parents[2] / "checks" / "test_preflight_concurrency.py"
ID = "PRE-NO-UPGRADE-RUNNING"

# The target's only part the check uses is its UCP address; a real one would need a DTR.
TARGET = """
import pytest

from upgrade.errors import HarnessError

UCP = {ucp!r}


class Target:
    def ucp_url(self):
        if UCP is None:
            raise HarnessError("DTR does not report its UCP (features.ucpHost is empty)")
        return UCP


@pytest.fixture(scope="session")
def target():
    return Target()
"""


# Another check, so a session in which ours is skipped still has a check that ran.
OTHER = '''
import pytest


@pytest.mark.preflight
@pytest.mark.check("PRE-OTHER")
def test_other():
    """Passes."""
'''


def upgrade_container(ucp: str = "ucp.example.com:443", name: str = "dtr-upgrade") -> FakeContainer:
    return FakeContainer(
        id="f0" * 32,
        name=name,
        image="mirantis/dtr:2.6.4",
        path="/bin/dtr",
        args=["upgrade", "--ucp-url", ucp, "--ucp-username", "admin", "--ucp-password", "pw-9"],
    )


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineScript]:
    """A scripted engine that DOCKER_HOST points at (a short path: unix socket names are short)."""
    script = EngineScript()
    with (
        tempfile.TemporaryDirectory(prefix="eng", dir="/tmp") as folder,
        fake_engine(Path(folder) / "docker.sock", script) as host,
    ):
        monkeypatch.setenv("DOCKER_HOST", host)
        yield script


def session(
    pytester: pytest.Pytester, *args: str, ucp: str | None = "https://ucp.example.com"
) -> tuple[pytest.RunResult, dict[str, Any], dict[str, Any]]:
    """Run the check alone against `dtr.example.com`; return the run, result.json and the
    check's record."""
    pytester.makepyfile(test_preflight_concurrency=CHECK.read_text(), test_other=OTHER)
    pytester.makeconftest(TARGET.format(ucp=ucp))
    return run_for_record(pytester, ID, "--to-version=2.6.4", "-rs", *args)


def test_a_running_upgrade_of_this_cluster_is_no_go(
    pytester: pytest.Pytester, engine: EngineScript
) -> None:
    engine.containers = [upgrade_container()]
    result, data, record = session(pytester)
    assert result.ret == 1
    assert data["verdict"] == "NO-GO"
    assert record["outcome"] == "failed"
    message = record["message"]
    assert message.startswith("another upgrade of this cluster is running: dtr-upgrade ")
    assert "mirantis/dtr:2.6.4, `upgrade` for UCP ucp.example.com:443" in message
    assert "running since 2026-03-04T05:06:07Z" in message
    assert "`docker stop ID`" in message
    evidence = record["evidence"]
    assert evidence["mixed_replica_versions"] == "judged by PRE-REPLICA-VERSIONS, not here"
    assert evidence["bootstrappers"][0]["command"] == "upgrade"
    assert evidence["ucp_url"] == "https://ucp.example.com"
    assert "pw-9" not in json.dumps(data)
    assert result.outlines[-1].startswith("VERDICT: NO-GO")


def test_no_bootstrapper_passes_and_says_what_a_single_engine_cannot_see(
    pytester: pytest.Pytester, engine: EngineScript
) -> None:
    result, _, record = session(pytester)
    assert result.ret == 0, result.outlines
    assert record["outcome"] == "passed"
    assert record["evidence"]["bootstrappers"] == []
    assert record["evidence"]["engine_version"] == "20.10.24"
    assert any("is not UCP, so only its own containers" in n for n in record["notes"])
    assert {"/containers/json"} <= {p.removeprefix("/v1.41") for p in engine.requests}


def test_through_ucp_every_node_is_seen(pytester: pytest.Pytester, engine: EngineScript) -> None:
    engine.version = "ucp/3.2.5"
    engine.containers = [upgrade_container(name="node-3/dtr-upgrade")]
    _, _, record = session(pytester)
    assert record["outcome"] == "failed"
    assert "on node node-3" in record["message"]
    assert not any("not UCP" in n for n in record["notes"])


def test_an_upgrade_of_another_cluster_is_noted_not_refused(
    pytester: pytest.Pytester, engine: EngineScript
) -> None:
    engine.containers = [upgrade_container(ucp="https://ucp.other.example.com")]
    result, _, record = session(pytester)
    assert result.ret == 0, result.outlines
    assert record["outcome"] == "passed"
    assert any("upgrades another cluster" in n for n in record["notes"])


def test_other_bootstrapper_commands_are_noted(
    pytester: pytest.Pytester, engine: EngineScript
) -> None:
    backup = upgrade_container()
    backup.args[0] = "backup"
    engine.containers = [backup]
    _, _, record = session(pytester)
    assert record["outcome"] == "passed"
    assert any("a bootstrapper runs `backup`" in n for n in record["notes"])


def test_when_the_ucp_is_unknown_every_upgrade_counts(
    pytester: pytest.Pytester, engine: EngineScript
) -> None:
    engine.containers = [upgrade_container(ucp="https://ucp.other.example.com")]
    _, _, record = session(pytester, ucp=None)
    assert record["outcome"] == "failed"
    assert any("this cluster's UCP is unknown" in n for n in record["notes"])


def test_a_dtr_image_repository_is_looked_for(
    pytester: pytest.Pytester, engine: EngineScript
) -> None:
    own = upgrade_container()
    own.image = "corp.example.com/tools/bootstrap:2.6.4"
    engine.containers = [own]
    _, _, record = session(pytester, "--dtr-image=corp.example.com/tools/bootstrap")
    assert record["outcome"] == "failed"
    assert "corp.example.com/tools/bootstrap" in record["evidence"]["repositories"]


def test_no_reachable_engine_is_a_skip_naming_what_was_not_checked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/none.sock")
    result, data, record = session(pytester)
    assert result.ret == 0, result.outlines
    assert data["verdict"] == "GO", result.outlines
    assert record["outcome"] == "skipped"
    assert record["message"].startswith(f"no Docker engine answers at unix://{pytester.path}/")
    assert "no running bootstrapper container was looked for" in record["message"]
    assert "PRE-REPLICA-VERSIONS" in record["message"]
    assert "engine_error" in record["evidence"]
    result.stdout.fnmatch_lines(["*SKIPPED*no running bootstrapper container was looked for*"])
    assert "ResourceWarning" not in result.stdout.str()
