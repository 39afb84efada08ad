"""Content trust around the upgrade: UCP's allow_repos lets the DTR images bypass "run only
signed images" (MKE configuration options, trust_configuration), and an engine's daemon.json
content-trust mode is read as evidence (fidelity-review.md 6)."""

from __future__ import annotations

from typing import Any

import pytest

from upgrade.clients.ucp import ContentTrust
from upgrade.cluster import trust


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("docker/dtr:2.6.4", "docker.io/docker/dtr"),
        ("docker.io/docker/dtr:2.6.4", "docker.io/docker/dtr"),
        ("index.docker.io/mirantis/dtr", "docker.io/mirantis/dtr"),
        ("mirantis/dtr@sha256:0123", "docker.io/mirantis/dtr"),
        ("registry.mirantis.com/msr/dtr:2.10.0", "registry.mirantis.com/msr/dtr"),
        ("127.0.0.1:5000/docker/dtr:2.6.4", "127.0.0.1:5000/docker/dtr"),
        ("localhost/docker/dtr", "localhost/docker/dtr"),
        ("busybox", "docker.io/library/busybox"),
        ("Docker/DTR:2.6.4", "docker.io/docker/dtr"),
    ],
)
def test_repository_is_normalised(image: str, repository: str) -> None:
    assert trust.repository(image) == repository


def test_allow_repos_let_the_listed_images_bypass() -> None:
    on = ContentTrust(True, (), ("docker.io/docker/dtr", "docker.io/docker/dtr-api"))
    judged = trust.judge(on, ["docker/dtr:2.6.4", "mirantis/dtr:2.7.8"])
    assert judged.allowed == ("docker/dtr:2.6.4",)
    assert judged.blocked == ("mirantis/dtr:2.7.8",)
    assert judged.blocks
    assert not trust.judge(on, ["docker/dtr:2.6.4"]).blocks
    assert trust.components_listed(on, "docker/dtr:2.6.4")
    assert not trust.components_listed(ContentTrust(True, (), ("docker/dtr",)), "docker/dtr:2")


def test_a_prefix_is_not_an_allowed_repository() -> None:
    on = ContentTrust(True, (), ("docker.io/docker",))
    assert trust.judge(on, ["docker/dtr:2.6.4"]).blocked == ("docker/dtr:2.6.4",)


def test_trust_off_blocks_nothing() -> None:
    judged = trust.judge(ContentTrust(False, ()), ["docker/dtr:2.6.4"])
    assert judged.allowed == ("docker/dtr:2.6.4",)
    assert not judged.blocks


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ('{"content-trust": {"mode": "enforced"}}', "enforced"),
        ('{"content-trust": {"mode": "Permissive"}}', "permissive"),
        ('{"content-trust": {"trust-pinning": {"official-library-images": true}}}', "disabled"),
        ('{"log-driver": "json-file"}', "disabled"),
        ("", "disabled"),
    ],
)
def test_engine_mode(text: str, mode: str) -> None:
    assert trust.engine_mode(text) == mode


class FakeFile:
    def __init__(self, content: str | None) -> None:
        self.exists = content is not None
        self.content_string = content or ""


class FakeHost:
    def __init__(self, content: str | None) -> None:
        self.content = content

    def file(self, path: str) -> FakeFile:
        assert path == trust.DAEMON_JSON
        return FakeFile(self.content)


def test_engines_trust_reads_every_host() -> None:
    hosts: dict[str, Any] = {
        "ssh://enforced": FakeHost('{"content-trust": {"mode": "enforced"}}'),
        "ssh://plain": FakeHost(None),
        "ssh://broken": FakeHost("{not json"),
    }

    def get_host(spec: str) -> Any:
        if spec not in hosts:
            raise RuntimeError(f"cannot connect to {spec}")
        return hosts[spec]

    readings = trust.engines_trust([*hosts, "ssh://gone"], get_host=get_host)
    by_host = {r.host: r for r in readings}
    assert by_host["ssh://enforced"].enforced
    assert by_host["ssh://plain"].mode == "disabled"
    assert by_host["ssh://broken"].mode is None
    assert "not valid JSON" in by_host["ssh://broken"].problem
    assert "cannot reach the host" in by_host["ssh://gone"].problem
    assert by_host["ssh://gone"].as_dict()["problem"]
    assert "problem" not in by_host["ssh://plain"].as_dict()
