"""The load-balanced DTR endpoint: round-robin over replicas whose health check passes."""

from __future__ import annotations

from dtrlab.cluster import Cluster
from dtrlab.dtr_api import ReplicaAPI
from dtrlab.listener import Request, Response, error_response


class LoadBalancer:
    """Forwards each request to a healthy replica's application, as an external load balancer
    with /_ping health checks would; answers 503 only when no replica is healthy."""

    def __init__(self, cluster: Cluster, replicas: dict[str, ReplicaAPI]) -> None:
        self.cluster = cluster
        self.replicas = replicas

    def __call__(self, request: Request) -> Response:
        """Dispatch one request to the next healthy replica."""
        replica = self.cluster.pick_replica()
        if replica is None:
            return error_response(
                503, "SERVICE_UNAVAILABLE", "no healthy DTR replica behind the load balancer"
            )
        return self.replicas[replica.id](request)
