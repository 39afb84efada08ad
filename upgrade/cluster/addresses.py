"""Where each replica answers on its own: `--replica-url`, else DTR's `replicaSettings`.

The replicas are always those `replicaSettings` lists; `--replica-url` only overrides the address
of the replica it names, and one naming no replica of this DTR is a problem of its own.

DTR's settings give each replica's `node` and `HTTPSPort` (`responses.Settings` in
../shared/dtr-api/dtr-2.{6,7}.0-swagger.json types `node` only as a string). That `node` is the
UCP node name (thebsdbox/diver pkg/dtr/types/dtrTypes.go; dtr-facts.md 1.4, `--ucp-node`), which
need not resolve from the machine the harness runs on (fidelity-review.md 12). UCP's node list
has each node's address (`Status.Addr`, "IP address of the node", Docker Engine API
`NodeStatus`), so a name that does not resolve is replaced by the address UCP gives, and a
replica neither gives an address for is named with the `--replica-url` that fixes it.

A name that resolves is kept: it is what the replica answered for before, and DTR's certificate
names hosts; an IP address from UCP is only used when the name cannot be.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from upgrade.clients.dtr_records import ReplicaSettings
from upgrade.clients.ucp import UCPNode

GIVEN = "--replica-url"
NODE_NAME = "replicaSettings.node"
UCP_NODES = "UCP's node list (Status.Addr)"

Resolver = Callable[[str], bool]


def resolves(host: str) -> bool:
    """Whether `host` resolves to an address from this machine."""
    try:
        return bool(socket.getaddrinfo(host, None))
    except (OSError, UnicodeError):
        return False


@dataclass(frozen=True)
class ReplicaAddress:
    """One replica's own address, where it came from, and what is wrong with it (None: usable)."""

    replica_id: str
    url: str
    source: str
    node: str = ""
    note: str = ""
    problem: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The address as evidence."""
        data = {"url": self.url, "source": self.source, "node": self.node}
        if self.note:
            data["note"] = self.note
        if self.problem:
            data["problem"] = self.problem
        return data


def given(urls: Mapping[str, str]) -> dict[str, ReplicaAddress]:
    """The addresses from `--replica-url`."""
    return {rid: ReplicaAddress(rid, url, GIVEN) for rid, url in urls.items()}


def not_replicas(urls: Mapping[str, str], replica_ids: Iterable[str]) -> list[str]:
    """One problem for each `--replica-url` whose ID is none of `replica_ids` (those DTR's
    replicaSettings list): it overrides no replica's address, so it is a typo or another
    cluster's replica."""
    known = sorted(set(replica_ids))
    listed = ", ".join(known) or "none"
    return [
        f"{GIVEN} {rid}={url}: {rid} is not a replica of this DTR (its replicas: {listed}); "
        f"correct the replica ID or drop this {GIVEN}"
        for rid, url in sorted(urls.items())
        if rid not in known
    ]


def _host(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


def from_settings(
    replicas: Iterable[ReplicaSettings],
    nodes: Iterable[UCPNode] | None,
    *,
    ucp_problem: str = "",
    resolve: Resolver = resolves,
) -> dict[str, ReplicaAddress]:
    """Each replica's address from its `replicaSettings` entry and UCP's node list (None: not
    asked, or it could not be read; `ucp_problem` says why)."""
    by_name: dict[str, str] = {}
    for ucp_node in nodes or ():
        if ucp_node.hostname and ucp_node.addr:
            by_name.setdefault(ucp_node.hostname.casefold(), ucp_node.addr)
    addresses = {}
    for replica in replicas:
        rid, node = replica.replica_id, replica.node.strip()
        port = "" if replica.https_port in (0, 443) else f":{replica.https_port}"
        # httpsPort is any integer in the 2.6/2.7 contract (responses.ReplicaSettings): a fix
        # never suggests a port no URL can carry.
        shown = (port or ":443") if 0 <= replica.https_port <= 65535 else ":PORT"
        fix = f"pass --replica-url {rid}=https://HOST{shown} with an address this machine reaches"
        if node and resolve(node):
            addresses[rid] = ReplicaAddress(rid, f"https://{node}{port}", NODE_NAME, node)
            continue
        addr = by_name.get(node.casefold()) if node else None
        if addr:
            addresses[rid] = ReplicaAddress(
                rid,
                f"https://{_host(addr)}{port}",
                UCP_NODES,
                node,
                note=(
                    f"replica {rid}'s node {node!r} (replicaSettings.node, a UCP node name) does "
                    f"not resolve from this machine: using the address UCP gives for it, {addr} "
                    f"(or {fix})"
                ),
            )
            continue
        if not node:
            why = f"DTR's replicaSettings give no node for replica {rid}"
        else:
            why = (
                f"replica {rid}'s node {node!r} (replicaSettings.node, a UCP node name) does not "
                "resolve from this machine, and UCP's node list gives no address for it"
                + (f" ({ucp_problem})" if ucp_problem else "")
            )
        addresses[rid] = ReplicaAddress(
            rid, f"https://{node or rid}{port}", NODE_NAME, node, problem=f"{why}; {fix}"
        )
    return addresses
