"""UCP as the lab serves it, plus the lab's private control endpoints under /_lab/.

UCP: GET /_ping, POST /auth/login -> {"auth_token"}, GET /version (Bearer), GET/PUT
/api/ucp/config-toml (Bearer), GET /nodes (Bearer; Docker's swarm.Node list, one manager and one
worker per replica), GET /ca.

Control protocol (JSON, every call needs `Authorization: Bearer <UCP auth_token>`), used by the
simulated bootstrapper the way the real one drives the cluster through UCP:

- GET  /_lab/cluster                       -> {"replicas": [{"id", "version", "state", "healthy"}],
                                               "dtr_host", "ucp_version", "known_versions"}
- POST /_lab/upgrade/begin {"target"}      -> {"attempt", "target", "from_version", "replicas",
                                               "crash": null | {"after_replica", "message"}}
  (`after_replica` is a replica ID, or null to die before replacing any replica)
- POST /_lab/replicas/{id}/replace {"version"} -> blocks for the swap; {"id", "version", "state"}
- POST /_lab/upgrade/reconfigure {"target"} -> blocks for the cluster-wide outage; {"outage_s"}
- POST /_lab/upgrade/complete {"target"}   -> queues the hop's migration jobs; {"jobs": [ids]}
- GET  /_lab/backup?replica=<id>          -> what `backup` prints: {"replica_id", "version",
                                               "snapshot", "fail", "empty", "slow_s"}
"""

from __future__ import annotations

import re
import tomllib
import uuid

from dtrlab.auth import bearer_token
from dtrlab.backup import backup_answer
from dtrlab.catalogue import KNOWN_VERSIONS
from dtrlab.cluster import Cluster, node_name
from dtrlab.errors import LabError
from dtrlab.listener import Request, Response, error_response, json_response
from dtrlab.router import Router
from dtrlab.upgrade_steps import UpgradeSteps


def _unauthorized() -> Response:
    return error_response(
        401, "UNAUTHORIZED", "a UCP session token from POST /auth/login is required"
    )


def _not_found(request: Request) -> Response:
    return error_response(404, "NOT_FOUND", f"no such UCP path: {request.method} {request.path}")


class UCPAPI:
    """The HTTP application of the lab's UCP listener."""

    def __init__(self, cluster: Cluster, upgrade: UpgradeSteps, ca_pem: str) -> None:
        self.cluster = cluster
        self.upgrade = upgrade
        self.ca_pem = ca_pem
        self.router = Router(
            authenticated=self.authenticated,
            unauthorized=_unauthorized,
            not_found=_not_found,
            head_as_get=False,
            method_not_allowed=False,
        )
        route = self.router.add
        route("GET", r"/_ping", self.ping, auth=False)
        route("GET", r"/ca", self.ca, auth=False)
        route("POST", r"/auth/login", self.login, auth=False)
        route("GET", r"/version", self.version)
        route("GET", r"/nodes", self.nodes)
        route("GET", r"/api/ucp/config-toml", self.get_config)
        route("PUT", r"/api/ucp/config-toml", self.put_config)
        route("GET", r"/_lab/cluster", self.lab_cluster)
        route("POST", r"/_lab/upgrade/begin", self.lab_begin)
        route("POST", r"/_lab/replicas/(?P<id>[0-9a-f]{12})/replace", self.lab_replace)
        route("POST", r"/_lab/upgrade/reconfigure", self.lab_reconfigure)
        route("POST", r"/_lab/upgrade/complete", self.lab_complete)
        route("GET", r"/_lab/backup", self.lab_backup)

    def __call__(self, request: Request) -> Response:
        """Answer one request as UCP."""
        try:
            return self.router(request)
        except LabError as exc:
            return error_response(409, "LAB_CONFLICT", str(exc))

    def authenticated(self, request: Request) -> bool:
        """A session token from POST /auth/login, as a bearer token."""
        token = bearer_token(request)
        return token is not None and self.cluster.check_ucp_token(token)

    def ping(self, request: Request, match: re.Match[str]) -> Response:
        """GET /_ping: 200 OK."""
        return Response(200, b"OK", content_type="text/plain; charset=utf-8")

    def ca(self, request: Request, match: re.Match[str]) -> Response:
        """GET /ca: the PEM to pass as --ucp-ca."""
        return Response(200, self.ca_pem.encode(), content_type="text/plain; charset=utf-8")

    def login(self, request: Request, match: re.Match[str]) -> Response:
        """POST /auth/login {"username", "password"} -> {"auth_token"}."""
        try:
            body = request.json()
        except ValueError:
            body = None
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("username"), str)
            or not isinstance(body.get("password"), str)
        ):
            return error_response(
                400, "INVALID_JSON", 'the body must be {"username": ..., "password": ...}'
            )
        token = self.cluster.ucp_login(body["username"], body["password"])
        if token is None:
            return error_response(401, "UNAUTHORIZED", "Invalid username or password")
        return json_response(
            200,
            {
                "auth_token": token,
                "token_id": str(uuid.uuid4()),
                "user_agent": request.header("User-Agent") or "",
            },
        )

    def version(self, request: Request, match: re.Match[str]) -> Response:
        """GET /version: Docker-style version JSON with "Version": "ucp/X.Y.Z"."""
        return json_response(
            200,
            {
                "Version": f"ucp/{self.cluster.ucp_version}",
                "ApiVersion": "1.37",
                "MinAPIVersion": "1.20",
                "GitCommit": "d7a0b7b",
                "GoVersion": "go1.10.8",
                "Os": "linux",
                "Arch": "amd64",
                "KernelVersion": "4.15.0",
                "BuildTime": "2019-01-31T17:40:13.000000000+00:00",
            },
        )

    def nodes(self, request: Request, match: re.Match[str]) -> Response:
        """GET /nodes: Docker's `swarm.Node` objects (thebsdbox/diver pkg/ucp/ucpNodes.go); each
        replica's worker has the replicaSettings node name as `Description.Hostname` and the
        address its listener answers at as `Status.Addr` (a manager's is 0.0.0.0, with the
        address in `ManagerStatus.Addr`, as Docker reports it)."""
        manager = {
            "ID": "lab-manager-1-id",
            "Description": {"Hostname": "lab-manager-1"},
            "Spec": {"Role": "manager", "Availability": "active"},
            "Status": {"State": "ready", "Addr": "0.0.0.0"},  # noqa: S104 (what Docker reports)
            "ManagerStatus": {
                "Leader": True,
                "Reachability": "reachable",
                "Addr": "127.0.0.1:2377",
            },
        }
        workers = [
            {
                "ID": f"{node_name(i)}-id",
                "Description": {"Hostname": node_name(i)},
                "Spec": {"Role": "worker", "Availability": "active"},
                "Status": {"State": "ready", "Addr": "127.0.0.1"},
            }
            for i, _ in enumerate(self.cluster.replica_list())
        ]
        return json_response(200, [manager, *workers])

    def get_config(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/ucp/config-toml: the UCP configuration file."""
        with self.cluster.lock:
            text = self.cluster.ucp_config_toml
        return Response(200, text.encode(), content_type="application/toml")

    def put_config(self, request: Request, match: re.Match[str]) -> Response:
        """PUT /api/ucp/config-toml: replace the configuration with a valid TOML document."""
        try:
            text = request.body.decode("utf-8")
            tomllib.loads(text)
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return error_response(
                400, "INVALID_CONFIG", f"the configuration is not valid TOML: {exc}"
            )
        with self.cluster.lock:
            self.cluster.ucp_config_toml = text
        return json_response(200, {"message": "Configuration updated"})

    # -- the lab's control endpoints ---------------------------------------------------------

    def _target(self, request: Request, key: str = "target") -> str:
        try:
            body = request.json()
        except ValueError as exc:
            raise LabError("the body is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get(key), str):
            raise LabError(f'the body must be {{"{key}": "<version>"}}')
        value: str = body[key]
        return value

    def lab_cluster(self, request: Request, match: re.Match[str]) -> Response:
        """GET /_lab/cluster: replicas, their versions and health."""
        now = self.cluster.clock()
        replicas = [
            {
                "id": r.id,
                "version": r.version,
                "state": r.state,
                "healthy": r.state == "running" and r.health(now)[0],
            }
            for r in self.cluster.replica_list()
        ]
        return json_response(
            200,
            {
                "replicas": replicas,
                "dtr_host": self.cluster.dtr_host,
                "ucp_version": self.cluster.ucp_version,
                "known_versions": list(KNOWN_VERSIONS),
            },
        )

    def lab_begin(self, request: Request, match: re.Match[str]) -> Response:
        """POST /_lab/upgrade/begin: record an attempt; the answer says whether it crashes."""
        return json_response(200, self.upgrade.begin_attempt(self._target(request)))

    def lab_replace(self, request: Request, match: re.Match[str]) -> Response:
        """POST /_lab/replicas/{id}/replace: swap the replica's containers for `version`."""
        return json_response(
            200, self.upgrade.replace_replica(match["id"], self._target(request, "version"))
        )

    def lab_reconfigure(self, request: Request, match: re.Match[str]) -> Response:
        """POST /_lab/upgrade/reconfigure: the cluster-wide step (the configured outage)."""
        return json_response(200, self.upgrade.reconfigure(self._target(request)))

    def lab_complete(self, request: Request, match: re.Match[str]) -> Response:
        """POST /_lab/upgrade/complete: queue the hop's migration jobs."""
        return json_response(200, self.upgrade.complete(self._target(request)))

    def lab_backup(self, request: Request, match: re.Match[str]) -> Response:
        """GET /_lab/backup?replica=<id>: the content `backup` prints (dtrlab.backup)."""
        replica = request.arg("replica") or ""
        return json_response(200, backup_answer(self.cluster, replica))
