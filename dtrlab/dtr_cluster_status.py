"""GET /api/v0/meta/cluster_status as a replica answers it: the RethinkDB system tables
(responses.ClusterStatus of the 2.7 contract), replica health, timestamps and read-only state.

A replica that is down or unhealthy is reported as a disconnected RethinkDB server and its
table replicas as `disconnected`; reads and writes need a majority of servers.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from dtrlab.cluster import Cluster, Replica
from dtrlab.listener import Request, Response, json_response
from dtrlab.router import Router
from dtrlab.store import iso

_RETHINK_TABLES = {
    "dtr2": (
        "repositories",
        "tags",
        "manifests",
        "blob_links",
        "namespaces",
        "events",
        "properties",
    ),
    "jobrunner": ("jobs", "crons", "workers", "job_logs"),
    "notaryserver": ("tuf_files", "change_category"),
    "notarysigner": ("private_keys",),
}


def _scenario_issues(cluster: Cluster) -> list[dict[str, Any]]:
    """The RethinkDB issues the `rethink-noncritical-issue` and `rethink-critical-issue`
    scenarios report on an otherwise healthy cluster: an `outdated_index` (critical false) and
    a `table_availability` (critical true), in RethinkDB's `current_issues` form (its
    system-issues documentation: type, critical, description, info)."""
    issues: list[dict[str, Any]] = []
    if cluster.config.has("rethink-noncritical-issue"):
        issues.append(
            {
                "type": "outdated_index",
                "critical": False,
                "description": "The cluster contains indexes that were created with a previous "
                "version of the query language which contained some bugs.",
                "info": {"tables": [{"db": "dtr2", "table": "tags", "indexes": ["digest"]}]},
            }
        )
    if cluster.config.has("rethink-critical-issue"):
        issues.append(
            {
                "type": "table_availability",
                "critical": True,
                "description": "Table `dtr2.tags` is not available for writes.",
                "info": {"db": "dtr2", "table": "tags", "status": {"ready_for_writes": False}},
            }
        )
    return issues


class ClusterStatusAPI:
    """The cluster_status handler of one replica."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def routes(self, router: Router) -> None:
        """Declare GET /api/v0/meta/cluster_status."""
        router.add("GET", r"/api/v0/meta/cluster_status", self.cluster_status)

    def cluster_status(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/meta/cluster_status (responses.ClusterStatus)."""
        cluster = self.cluster
        replicas = cluster.replica_list()
        now = datetime.now(UTC)
        up = [r for r in replicas if r.state == "running" and r.unhealthy_error is None]
        down = [r for r in replicas if r not in up]
        servers = [_server_status(r, up) for r in up]
        issues = [
            {
                "type": "server_disconnected",
                "critical": True,
                "description": f"Server dtr_rethinkdb_{r.id} is disconnected from the cluster.",
                "info": {
                    "disconnected_server": f"dtr_rethinkdb_{r.id}",
                    "reporting_servers": [f"dtr_rethinkdb_{u.id}" for u in up],
                },
            }
            for r in down
        ]
        issues += _scenario_issues(cluster)
        table_status = [
            _table_status(db, name, up, replicas)
            for db, names in _RETHINK_TABLES.items()
            for name in names
        ]
        body = {
            "rethink_system_tables": {
                "cluster_config": [{"id": "heartbeat", "heartbeat_timeout_secs": 10}],
                "current_issues": issues,
                "db_config": [
                    {"id": str(uuid.uuid5(uuid.NAMESPACE_OID, db)), "name": db}
                    for db in _RETHINK_TABLES
                ],
                "server_status": servers,
                "stats": [
                    {
                        "id": ["cluster"],
                        "query_engine": {"client_connections": 4 * len(up), "queries_per_sec": 12},
                    }
                ],
                "table_config": [
                    {
                        "db": db,
                        "name": name,
                        "id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{db}.{name}")),
                        "durability": "hard",
                        "primary_key": "id",
                        "shards": [
                            {
                                "primary_replica": f"dtr_rethinkdb_{replicas[0].id}",
                                "replicas": [f"dtr_rethinkdb_{r.id}" for r in replicas],
                            }
                        ],
                        "write_acks": "majority",
                    }
                    for db, names in _RETHINK_TABLES.items()
                    for name in names
                ],
                "table_status": table_status,
            },
            "replica_health": {r.id: cluster.replica_health_text(r) for r in replicas},
            "replica_timestamp": {
                r.id: iso(now if r.state == "running" else now - timedelta(seconds=30))
                for r in replicas
            },
            "replica_readonly": {
                r.id: bool(cluster.settings["readOnlyRegistry"]) for r in replicas
            },
            "gc_lock_holder": cluster.gc_lock_holder(),
        }
        return json_response(200, body)


def _server_status(replica: Replica, up: list[Replica]) -> dict[str, Any]:
    name = f"dtr_rethinkdb_{replica.id}"
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_OID, name)),
        "name": name,
        "network": {
            "canonical_addresses": [{"host": f"dtr-rethinkdb-{replica.id}.dtr-ol", "port": 29015}],
            "cluster_port": 29015,
            "connected_to": {f"dtr_rethinkdb_{o.id}": True for o in up if o is not replica},
            "hostname": f"dtr-rethinkdb-{replica.id}",
            "http_admin_port": "<no http admin>",
            "reql_port": 28015,
            "time_connected": iso(replica.started_at),
        },
        "process": {
            "argv": ["rethinkdb", "--bind", "all", "--no-http-admin", "--server-name", name],
            "cache_size_mb": 2048,
            "pid": 1,
            "time_started": iso(replica.started_at),
            "version": "rethinkdb 2.3.6 (GCC 6.3.0)",
        },
    }


def _table_status(db: str, name: str, up: list[Replica], replicas: list[Replica]) -> dict[str, Any]:
    ready = len(up) == len(replicas)
    quorum = len(up) * 2 > len(replicas)
    leader = f"dtr_rethinkdb_{up[0].id}" if up else None
    return {
        "db": db,
        "name": name,
        "id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{db}.{name}")),
        "raft_leader": leader,
        "shards": [
            {
                "primary_replicas": [leader] if leader else [],
                "replicas": [
                    {
                        "server": f"dtr_rethinkdb_{r.id}",
                        "state": "ready" if r in up else "disconnected",
                    }
                    for r in replicas
                ],
            }
        ],
        "status": {
            "all_replicas_ready": ready,
            "ready_for_outdated_reads": bool(up),
            "ready_for_reads": quorum,
            "ready_for_writes": quorum,
        },
    }
