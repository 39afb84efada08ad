"""--hosts: each spec is checked when the session starts (a scheme testinfra takes, a host, the
backend's package installed), and a node that cannot be read is one line naming it and what
failed, never testinfra's CommandResult."""

from __future__ import annotations

import shutil
from types import SimpleNamespace
from typing import Any

import pytest

from upgrade.cluster.nodes import NodeUnreachable, gather
from upgrade.config.values import SettingsError, parse_hosts


@pytest.mark.parametrize("spec", ["local://", "ssh://node1", "ssh://ops@node1:2222", "docker://c"])
def test_the_forms_testinfra_takes_are_accepted(spec: str) -> None:
    assert parse_hosts((spec,)) == (spec,)


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("notaurl", "e.g. ssh://notaurl"),
        ("ftp://node1", "testinfra has no 'ftp' backend"),
        ("ssh://", "name the host, e.g. ssh://node1"),
    ],
)
def test_a_spec_testinfra_cannot_use_is_a_usage_error_naming_the_forms(
    spec: str, said: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        parse_hosts(("local://", spec))
    assert said in str(raised.value)
    if said != "name the host, e.g. ssh://node1":
        assert "local://" in str(raised.value)
        assert "docker://container" in str(raised.value)


def test_a_missing_backend_package_names_the_pip_install() -> None:
    pytest.importorskip("testinfra")
    try:
        import paramiko  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("paramiko is installed here")
    with pytest.raises(SettingsError, match=r"pip install paramiko.*or use ssh://node1"):
        parse_hosts(("paramiko://node1",))


def test_a_password_in_a_spec_is_refused_without_repeating_it() -> None:
    with pytest.raises(SettingsError) as raised:
        parse_hosts(("ssh://ops:s3cret@node1",))
    assert "s3cret" not in str(raised.value)


class SshFailure:
    """testinfra's ssh backend when ssh exits 255: it raises RuntimeError(CommandResult)."""

    def run(self, command: str, *args: str) -> Any:
        result = SimpleNamespace(rc=255, stdout="", stderr="ssh: Could not resolve hostname n1\r\n")
        raise RuntimeError(result)


class Refusing:
    """A node that answers, where the account may not run df."""

    def run(self, command: str, *args: str) -> Any:
        if command.startswith("df"):
            return SimpleNamespace(rc=1, stdout="", stderr="df: permission denied\n")
        return SimpleNamespace(rc=0, stdout="MemTotal: 1 kB\nMemAvailable: 1 kB\n", stderr="")


def test_a_node_ssh_cannot_reach_is_one_line_naming_it_and_why() -> None:
    with pytest.raises(NodeUnreachable) as raised:
        gather("ssh://n1", get_host=lambda spec: SshFailure())
    message = str(raised.value)
    assert message.startswith("cannot read facts from host ssh://n1: hostname exited 255: ")
    assert "Could not resolve hostname n1" in message
    assert "CommandResult" not in message
    assert "\n" not in message


def test_a_command_that_fails_on_the_node_is_named() -> None:
    failed = "df -P -B1 /var/lib/docker exited 1: df: permission denied"
    with pytest.raises(NodeUnreachable, match=failed):
        gather("ssh://n1", get_host=lambda spec: Refusing())


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh command here")
def test_a_real_unresolvable_ssh_host_is_named_without_a_repr() -> None:
    with pytest.raises(NodeUnreachable) as raised:
        gather("ssh://nonexistent-node.invalid")
    message = str(raised.value)
    assert "host ssh://nonexistent-node.invalid" in message
    assert "CommandResult" not in message
    assert "SshBackend" not in message
