"""Running bootstrappers as the Docker engine shows them, and reaching the engine without
leaking a socket when nothing answers."""

from __future__ import annotations

import gc
import socket
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.fake_engine import EngineScript, FakeContainer, fake_engine
from upgrade.cluster import containers
from upgrade.cluster.containers import BootstrapperContainer, is_bootstrapper_image
from upgrade.errors import HarnessError
from upgrade.procedure.bootstrapper import BootstrapperRequest, DockerEngineUnreachable
from upgrade.procedure.docker_executor import DockerExecutor

UCP = "https://ucp.example.com"


def dtr_container(
    cid: str = "a1" * 32,
    name: str = "upgrade-run",
    image: str = "mirantis/dtr:2.6.4",
    args: tuple[str, ...] = ("upgrade", "--ucp-url", "ucp.example.com", "--ucp-password", "pw"),
    **extra: object,
) -> FakeContainer:
    return FakeContainer(cid, name, image, "/bin/dtr", list(args), **extra)  # type: ignore[arg-type]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a unix socket path has at most 107 bytes."""
    with tempfile.TemporaryDirectory(prefix="eng", dir="/tmp") as folder:
        yield Path(folder)


@pytest.fixture
def engine(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineScript]:
    """A fake engine that DOCKER_HOST points at."""
    script = EngineScript()
    with fake_engine(short_dir / "docker.sock", script) as host:
        monkeypatch.setenv("DOCKER_HOST", host)
        yield script


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("docker/dtr:2.6.4", True),
        ("docker.io/mirantis/dtr:2.7.8", True),
        ("index.docker.io/docker/dtr", True),
        ("registry.mirantis.com/msr/dtr:2.10.0", True),
        ("mirror.corp:5000/mirantis/dtr:2.7.8", True),
        ("127.0.0.1:5000/docker/dtr:2.6.4", True),
        ("mirantis/dtr@sha256:" + "0" * 64, True),
        ("docker/dtr-nginx:2.6.4", False),
        ("mirantis/dtr-api:2.7.8", False),
        ("docker/dtrx:1", False),
        ("nginx:latest", False),
        ("corp/dtr-tools/dtr:1", False),
    ],
)
def test_bootstrapper_images_are_recognised(reference: str, expected: bool) -> None:
    assert is_bootstrapper_image(reference) is expected


def test_dtr_image_option_adds_a_repository() -> None:
    assert is_bootstrapper_image("corp/tools/bootstrap:2.6.4", ["corp/tools/bootstrap"])


def test_a_running_upgrade_is_found_with_its_ucp_and_no_secret(engine: EngineScript) -> None:
    engine.containers = [
        dtr_container(),
        FakeContainer(id="b2" * 32, name="web", image="nginx:1", path="nginx", args=[]),
    ]
    scan = containers.running_bootstrappers()
    assert scan.version == "20.10.24"
    assert not scan.shows_every_node
    (found,) = scan.bootstrappers
    assert found == BootstrapperContainer(
        id="a1" * 6,
        name="upgrade-run",
        image="mirantis/dtr:2.6.4",
        command="upgrade",
        node=None,
        started_at="2026-03-04T05:06:07Z",
        ucp_url="ucp.example.com",
    )
    assert scan.upgrading == (found,)
    assert "pw" not in found.describe()
    assert found.works_on(UCP)
    assert found.works_on("https://UCP.example.com:443/")
    assert not found.works_on("https://ucp.other.example.com")
    # The nginx container is not inspected: only images of a bootstrapper are.
    assert not any(path.endswith(f"{'b2' * 32}/json") for path in engine.requests)


def test_through_ucp_the_node_comes_from_the_name(engine: EngineScript) -> None:
    engine.version = "ucp/3.2.5"
    engine.containers = [dtr_container(name="node-2/dtr-upgrade")]
    scan = containers.running_bootstrappers()
    assert scan.shows_every_node
    assert scan.bootstrappers[0].node == "node-2"
    assert scan.bootstrappers[0].name == "dtr-upgrade"


def test_other_commands_are_listed_but_are_not_upgrades(engine: EngineScript) -> None:
    engine.containers = [dtr_container(args=("backup", "--ucp-url", UCP))]
    scan = containers.running_bootstrappers()
    assert [b.command for b in scan.bootstrappers] == ["backup"]
    assert scan.upgrading == ()


def test_the_labs_entrypoint_and_the_environment_ucp_url(engine: EngineScript) -> None:
    engine.containers = [
        FakeContainer(
            id="c3" * 32,
            name="dtr-bootstrap",
            image="127.0.0.1:5000/docker/dtr:2.6.4",
            path="python3",
            args=["-m", "dtrlab.bootstrapper", "--image-version", "2.6.4", "upgrade"],
            env=["UCP_PASSWORD=secret", f"UCP_URL={UCP}"],
        )
    ]
    (found,) = containers.running_bootstrappers().bootstrappers
    assert found.upgrading
    assert found.ucp_url == UCP
    assert "secret" not in repr(found)


def test_a_retagged_image_is_read_from_the_inspection(engine: EngineScript) -> None:
    engine.containers = [dtr_container(listed_image="sha256:" + "d" * 64)]
    (found,) = containers.running_bootstrappers().bootstrappers
    assert found.image == "mirantis/dtr:2.6.4"


def test_a_container_gone_before_inspection_is_left_out(engine: EngineScript) -> None:
    engine.containers = [dtr_container(vanished=True)]
    assert containers.running_bootstrappers().bootstrappers == ()


def test_an_unknown_side_counts_as_this_cluster() -> None:
    found = BootstrapperContainer("i", "n", "docker/dtr:2.6.4", "upgrade", None, None, None)
    assert found.works_on(UCP)
    assert BootstrapperContainer("i", "n", "x", "upgrade", None, None, UCP).works_on(None)


class BrokenClient:
    """A client whose engine answers but refuses to list containers."""

    closed = False

    def version(self) -> dict[str, str]:
        return {"Version": "20.10.24"}

    @property
    def api(self) -> BrokenClient:
        return self

    def containers(self, **_: object) -> list[object]:
        raise RuntimeError("403 Client Error: Forbidden (access denied)\nmore")

    def close(self) -> None:
        BrokenClient.closed = True


def test_an_engine_that_cannot_list_is_an_error_and_the_client_is_closed() -> None:
    with pytest.raises(HarnessError, match="could not list its running containers: 403"):
        containers.running_bootstrappers(client_factory=BrokenClient)
    assert BrokenClient.closed


def _no_leak(call: Callable[[], object]) -> str:
    """Call it, expecting DockerEngineUnreachable, and show that no socket was left unclosed;
    return the error message."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        try:
            call()
        except DockerEngineUnreachable as exc:
            message = str(exc)
        else:
            pytest.fail("the engine was reached")
        # The error (and the frames it holds) must be gone before the collector runs.
        gc.collect()
    leaks = [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks
    return message


def test_a_missing_socket_is_unreachable_without_a_leaked_socket(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{short_dir}/none.sock")
    error = _no_leak(containers.engine_client)
    assert error.startswith(f"cannot reach the Docker engine at unix://{short_dir}/none.sock")
    _no_leak(containers.running_bootstrappers)


def test_a_socket_nobody_listens_on_is_unreachable_without_a_leak(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = short_dir / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(path))  # bound, never listening: connections are refused
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        assert "refused" in _no_leak(containers.engine_client).lower()


def test_the_image_checks_use_the_same_leak_free_client(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from upgrade.cluster import images

    monkeypatch.setenv("DOCKER_HOST", f"unix://{short_dir}/none.sock")
    _no_leak(lambda: images.in_registry("docker/dtr:2.6.4"))
    _no_leak(lambda: images.on_engine("docker/dtr:2.6.4"))
    _no_leak(lambda: containers.replica_containers("5eb9459a7832"))


def test_the_executor_uses_the_same_leak_free_client(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{short_dir}/none.sock")
    request = BootstrapperRequest(
        image="docker/dtr:2.6.4",
        target_version="2.6.4",
        ucp_url=UCP,
        ucp_username="admin",
        ucp_password="unused-secret",
    )
    with DockerExecutor() as executor:
        error = _no_leak(lambda: executor.prepare(request))
    assert error.startswith(f"cannot reach the Docker engine at unix://{short_dir}/none.sock")


def test_without_docker_host_the_local_engine_is_meant() -> None:
    assert containers.engine_host({}) == "unix:///var/run/docker.sock"
    assert containers.engine_host({"DOCKER_HOST": "tcp://ucp:443"}) == "tcp://ucp:443"
