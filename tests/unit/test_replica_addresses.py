"""Replica addresses: replicaSettings' node is a UCP node name that may not resolve here; UCP's
node list (Status.Addr) then gives the address, and a replica neither gives one for is named
with the --replica-url that fixes it (fidelity-review.md 12)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import UCP_PASSWORD, FakeServer, Reply, Seen
from upgrade.clients.dtr_records import ReplicaSettings
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials, UCPCredentials
from upgrade.clients.ucp import UCPNode
from upgrade.cluster import addresses
from upgrade.cluster.target import Endpoints, Target

R1, R2, R3 = "5eb9459a7832", "a1b2c3d4e5f6", "0123456789ab"


def settings_reply(nodes: dict[str, str], port: int = 8443) -> Reply:
    return Reply(
        200,
        {
            "dtrHost": "dtr.example.com",
            "replicaID": R1,
            "replicaSettings": {
                rid: {"HTTPPort": 80, "HTTPSPort": port, "node": node}
                for rid, node in nodes.items()
            },
        },
    )


def swarm_node(hostname: str, addr: str) -> dict[str, object]:
    return {
        "ID": hostname,
        "Description": {"Hostname": hostname},
        "Spec": {"Role": "worker"},
        "Status": {"State": "ready", "Addr": addr},
    }


def login(seen: Seen) -> Reply:
    return Reply(200, {"auth_token": "ucp-token-0123456789"})


@pytest.fixture
def make_target(
    server: FakeServer,
    ca_path: str,
    dtr_credentials: DTRCredentials,
    ucp_credentials: UCPCredentials,
) -> Iterator[object]:
    made: list[Target] = []

    def make(resolvable: set[str], *, ucp: bool = True, given: dict[str, str] | None = None):
        endpoints = Endpoints(
            dtr_url=server.url,
            ucp_url=server.url,
            replica_urls=given or {},
            dtr_ca=Path(ca_path),
            ucp_ca=Path(ca_path),
        )
        target = Target(
            endpoints,
            dtr_credentials,
            ucp_credentials if ucp else None,
            retry=RetryPolicy(attempts=1),
            resolve=lambda host: host in resolvable,
        )
        made.append(target)
        return target

    server.route("POST", "/auth/login", login)
    yield make
    for target in made:
        target.close()


def test_unresolvable_names_take_the_address_ucp_gives(server: FakeServer, make_target) -> None:
    server.route("GET", "/api/v0/meta/settings", settings_reply({R1: "node-1", R2: "node-2"}))
    server.route(
        "GET",
        "/nodes",
        Reply(200, [swarm_node("NODE-1", "10.0.0.11"), swarm_node("node-2", "fd00::12")]),
    )
    target = make_target(resolvable=set())
    found = target.replica_addresses()
    assert target.replica_urls() == {R1: "https://10.0.0.11:8443", R2: "https://[fd00::12]:8443"}
    assert found[R1].source == addresses.UCP_NODES
    assert found[R1].problem is None
    assert "'node-1' (replicaSettings.node, a UCP node name) does not resolve" in found[R1].note
    assert f"--replica-url {R1}=https://HOST:8443" in found[R1].note
    assert len(server.seen("GET", "/nodes")) == 1
    target.replica_urls()
    assert len(server.seen("GET", "/api/v0/meta/settings")) == 1


def test_names_that_resolve_are_kept_and_ucp_is_not_asked(server: FakeServer, make_target) -> None:
    server.route("GET", "/api/v0/meta/settings", settings_reply({R1: "node-1"}, port=443))
    target = make_target(resolvable={"node-1"})
    assert target.replica_urls() == {R1: "https://node-1"}
    assert target.replica_addresses()[R1].source == addresses.NODE_NAME
    assert server.seen("GET", "/nodes") == []
    assert server.seen("POST", "/auth/login") == []


def test_a_node_neither_resolves_nor_ucp_knows_names_replica_url(
    server: FakeServer, make_target
) -> None:
    server.route("GET", "/api/v0/meta/settings", settings_reply({R1: "node-1", R2: "gone", R3: ""}))
    server.route("GET", "/nodes", Reply(200, [swarm_node("node-1", "10.0.0.11")]))
    found = make_target(resolvable=set()).replica_addresses()
    assert found[R1].problem is None
    problem = found[R2].problem or ""
    assert "'gone' (replicaSettings.node, a UCP node name) does not resolve" in problem
    assert "UCP's node list gives no address for it" in problem
    assert f"pass --replica-url {R2}=https://HOST:8443" in problem
    assert f"DTR's replicaSettings give no node for replica {R3}" in (found[R3].problem or "")


def test_ucp_that_cannot_list_nodes_is_named(server: FakeServer, make_target) -> None:
    server.route("GET", "/api/v0/meta/settings", settings_reply({R1: "node-1"}))
    server.route("GET", "/nodes", Reply(403, {"message": "access denied"}))
    found = make_target(resolvable=set()).replica_addresses()
    problem = found[R1].problem or ""
    assert "UCP's node list could not be read" in problem
    assert "403" in problem
    assert f"--replica-url {R1}=" in problem


def test_without_ucp_credentials_the_problem_names_them(server: FakeServer, make_target) -> None:
    server.route("GET", "/api/v0/meta/settings", settings_reply({R1: "node-1"}))
    found = make_target(resolvable=set(), ucp=False).replica_addresses()
    problem = found[R1].problem or ""
    assert "UCP_USERNAME and UCP_PASSWORD" in problem
    assert f"--replica-url {R1}=" in problem


def test_given_addresses_win(server: FakeServer, make_target) -> None:
    server.route("GET", "/api/v0/meta/settings", settings_reply({R1: "node-1"}))
    target = make_target(resolvable=set(), given={R1: "https://10.1.1.1:4443"})
    found = target.replica_addresses()
    assert found[R1].url == "https://10.1.1.1:4443"
    assert found[R1].source == addresses.GIVEN
    assert server.seen("GET", "/nodes") == []
    assert target.replica_url_problems() == []


def test_one_given_address_leaves_the_other_replicas_in_the_cluster(
    server: FakeServer, make_target
) -> None:
    """--replica-url for one replica overrides its address only: the replicas are still the
    ones replicaSettings lists, so a sick replica not named is still judged."""
    server.route(
        "GET", "/api/v0/meta/settings", settings_reply({R1: "node-1", R2: "node-2", R3: "node-3"})
    )
    target = make_target(resolvable={"node-2", "node-3"}, given={R1: "https://10.1.1.1:4443"})
    assert target.replica_urls() == {
        R1: "https://10.1.1.1:4443",
        R2: "https://node-2:8443",
        R3: "https://node-3:8443",
    }
    found = target.replica_addresses()
    assert found[R1].source == addresses.GIVEN
    assert found[R2].source == found[R3].source == addresses.NODE_NAME
    assert server.seen("GET", "/nodes") == []


def test_a_given_id_that_is_no_replica_is_named_with_the_real_ids(
    server: FakeServer, make_target
) -> None:
    server.route("GET", "/api/v0/meta/settings", settings_reply({R1: "node-1", R2: "node-2"}))
    target = make_target(
        resolvable={"node-1", "node-2"}, given={"abcdefabcdef": "https://127.0.0.1:1"}
    )
    assert sorted(target.replica_urls()) == [R1, R2]
    (problem,) = target.replica_url_problems()
    assert problem.startswith("--replica-url abcdefabcdef=https://127.0.0.1:1: ")
    assert f"abcdefabcdef is not a replica of this DTR (its replicas: {R1}, {R2})" in problem
    assert "correct the replica ID or drop this --replica-url" in problem


def test_not_replicas_is_pure() -> None:
    given = {R1: "https://a", R3: "https://c"}
    assert addresses.not_replicas(given, [R1, R2, R1]) == [
        f"--replica-url {R3}=https://c: {R3} is not a replica of this DTR (its replicas: "
        f"{R1}, {R2}); correct the replica ID or drop this --replica-url"
    ]
    assert "(its replicas: none)" in addresses.not_replicas(given, [])[0]


def test_from_settings_is_pure() -> None:
    replicas = [ReplicaSettings(R1, "n1", 80, 443), ReplicaSettings(R2, "n2", 80, 4443)]
    nodes = [UCPNode("x", "n1", "192.0.2.1", "worker"), UCPNode("y", "n2", "", "worker")]
    found = addresses.from_settings(replicas, nodes, resolve=lambda host: False)
    assert found[R1].url == "https://192.0.2.1"
    assert found[R2].problem is not None
    assert found[R2].url == "https://n2:4443"


def test_resolves_refuses_what_cannot_resolve() -> None:
    assert addresses.resolves("localhost")
    assert not addresses.resolves("no-such-node.invalid")
    assert not addresses.resolves("bad name\x00")


def test_ucp_password_is_not_in_any_problem(server: FakeServer, make_target) -> None:
    server.route("GET", "/api/v0/meta/settings", settings_reply({R1: "node-1"}))
    server.route("GET", "/nodes", Reply(500, {"message": "boom"}))
    found = make_target(resolvable=set()).replica_addresses()
    assert UCP_PASSWORD not in str(found[R1].as_dict())


def test_a_port_no_url_can_carry_is_not_suggested() -> None:
    """httpsPort is any integer in the 2.6/2.7 contract (responses.ReplicaSettings)."""
    replicas = [ReplicaSettings(R1, "n1", 80, -602), ReplicaSettings(R2, "n2", 80, 0)]
    found = addresses.from_settings(replicas, [], resolve=lambda host: False)
    assert found[R1].problem is not None
    assert f"--replica-url {R1}=https://HOST:PORT " in found[R1].problem
    assert found[R2].problem is not None
    assert f"--replica-url {R2}=https://HOST:443 " in found[R2].problem
