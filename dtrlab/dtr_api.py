"""The DTR API one replica serves: /_ping, /ca, /api/v0/..., /auth/token and the /v2/ registry.

Response bodies follow the definitions of the 2.7 contract (responses.ClusterStatus,
responses.Settings, tmpresponses.Job, ...). Paged listings answer the next page's first record
in the `X-Next-Page-Start` header (absent on the last page) and, with `count=true`, the total in
`X-Resource-Count`. The handlers live by concept in dtr_cluster_status, dtr_settings, dtr_jobs,
dtr_scanning and dtr_repositories; this module composes them behind the one router.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from dtrlab.auth import basic_credentials, bearer_token
from dtrlab.cluster import Cluster, Replica
from dtrlab.contract import build_version, docs_json
from dtrlab.dtr_cluster_status import ClusterStatusAPI
from dtrlab.dtr_jobs import JobsAPI
from dtrlab.dtr_repositories import RepositoriesAPI
from dtrlab.dtr_scanning import ScanningAPI
from dtrlab.dtr_settings import SettingsAPI
from dtrlab.jobs import JobRunnerError
from dtrlab.listener import Request, Response, error_response, json_response
from dtrlab.registry_api import RegistryAPI
from dtrlab.router import Router
from dtrlab.store import RegistryError

_NOT_AUTHENTICATED = ("NOT_AUTHENTICATED", "The client is not authenticated.")


def _unauthorized() -> Response:
    return error_response(401, *_NOT_AUTHENTICATED, [("WWW-Authenticate", 'Basic realm="DTR"')])


def _not_found(request: Request) -> Response:
    return error_response(404, "NOT_FOUND", f"no such API path: {request.path}")


class ReplicaAPI:
    """The HTTP application of one replica (the load balancer dispatches to these too)."""

    def __init__(self, cluster: Cluster, replica: Replica, ca_pem: str) -> None:
        self.cluster = cluster
        self.replica = replica
        self.ca_pem = ca_pem
        self.registry = RegistryAPI(cluster)
        self.router = Router(
            authenticated=self.authenticated,
            unauthorized=_unauthorized,
            not_found=_not_found,
        )
        route = self.router.add
        route("GET", r"/_ping", self.ping, auth=False)
        route("GET", r"/ca", self.ca, auth=False)
        route("GET", r"/api/v0/docs\.json", self.docs, auth=False)
        ClusterStatusAPI(cluster).routes(self.router)
        SettingsAPI(cluster, replica, ca_pem).routes(self.router)
        JobsAPI(cluster).routes(self.router)
        ScanningAPI(cluster).routes(self.router)
        RepositoriesAPI(cluster).routes(self.router)
        route("GET", r"/auth/token", self.auth_token, auth=False)

    def __call__(self, request: Request) -> Response:
        """Answer one request as this replica."""
        if request.path.startswith("/v2/") or request.path == "/v2":
            return self.registry(request)
        try:
            return self.router(request)
        except JobRunnerError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except RegistryError as exc:
            return error_response(exc.status, exc.code, exc.message)

    def authenticated(self, request: Request) -> bool:
        """Basic (password or access token), a bearer token from /auth/token, or ?refresh_token."""
        basic = basic_credentials(request)
        if basic is not None:
            return self.cluster.check_password(*basic)
        token = bearer_token(request)
        if token is not None:
            return self.cluster.check_bearer(token)
        refresh = request.arg("refresh_token")
        return refresh is not None and self.cluster.check_password(
            self.cluster.credentials.username, refresh
        )

    # -- health and metadata -----------------------------------------------------------------

    def ping(self, request: Request, match: re.Match[str]) -> Response:
        """GET /_ping: 200 {"Healthy": true} or 503 with the failing service in Error."""
        healthy, error = self.replica.health(self.cluster.clock())
        return json_response(200 if healthy else 503, {"Error": error, "Healthy": healthy})

    def ca(self, request: Request, match: re.Match[str]) -> Response:
        """GET /ca: the CA that signed this replica's certificate."""
        return Response(200, self.ca_pem.encode(), content_type="text/plain; charset=utf-8")

    def docs(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/docs.json: the contract, info.version = this replica's version (with a
        build suffix under the version-suffix scenario, as a real 2.7.0 reports it)."""
        version = self.replica.version
        if self.cluster.config.has("version-suffix"):
            version = build_version(version)
        return Response(200, docs_json(version))

    # -- registry auth -----------------------------------------------------------------------

    def auth_token(self, request: Request, match: re.Match[str]) -> Response:
        """GET /auth/token with basic auth: a bearer token for the /v2/ API."""
        basic = basic_credentials(request)
        if basic is None or not self.cluster.check_password(*basic):
            return error_response(
                401,
                "UNAUTHORIZED",
                "authentication required",
                [("WWW-Authenticate", 'Basic realm="DTR"')],
            )
        token = self.cluster.issue_bearer()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lifetime = max(1, math.floor(self.cluster.config.token_lifetime))
        return json_response(
            200, {"token": token, "access_token": token, "expires_in": lifetime, "issued_at": now}
        )
