"""Where `UCP_PASSWORD` is visible, as the executor's docstring says (fidelity-review.md 15):
`docker inspect` of the running bootstrapper container shows it in `Config.Env`, never in its
command line, and the container is gone once the attempt ends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dtrlab.engine.lab import EngineLab
from tests.engine.test_engine_executor import TIMEOUT_S, request_for
from upgrade.procedure.docker_executor import CONTAINER_LABEL, DockerExecutor


def test_the_password_is_in_the_containers_environment_only_while_it_runs(
    make_engine_lab: Callable[..., EngineLab], docker_client: Any, client_factory: Callable[[], Any]
) -> None:
    lab = make_engine_lab(replicas=1)
    password = lab.credentials.ucp_password
    seen: list[dict[str, Any]] = []

    def on_line(line: str) -> None:
        if not seen:
            # all=True: on a loaded machine the first line can arrive after the container
            # exited; it stays (and shows its environment) until the executor removes it.
            (running,) = docker_client.containers.list(all=True, filters={"label": CONTAINER_LABEL})
            seen.append(docker_client.api.inspect_container(running.id))

    with DockerExecutor(client_factory, network_mode="host") as executor:
        request = request_for(lab)
        executor.prepare(request)
        result = executor.run(request, on_line, TIMEOUT_S)
    assert result.ok, result.describe()
    (inspected,) = seen
    assert f"UCP_PASSWORD={password}" in inspected["Config"]["Env"]
    assert not any(password in argument for argument in inspected["Args"])
    assert password not in " ".join(inspected["Config"]["Cmd"] or [])
    assert not docker_client.containers.list(all=True, filters={"label": CONTAINER_LABEL})
