"""The DTR API one replica serves: /_ping, /ca, /api/v0/..., /auth/token and the /v2/ registry.

Response bodies follow the definitions of the 2.7 contract (responses.ClusterStatus,
responses.Settings, tmpresponses.Job, ...). Paged listings answer the next page's first record
in the `X-Next-Page-Start` header (absent on the last page) and, with `count=true`, the total in
`X-Resource-Count`.
"""

from __future__ import annotations

import io
import math
import re
import tarfile
import uuid
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from dtrlab.auth import basic_credentials, bearer_token
from dtrlab.cluster import Cluster, Replica
from dtrlab.contract import docs_json
from dtrlab.jobs import ACTIONS, JobRunnerError, cron_next_run
from dtrlab.listener import Request, Response, error_response, json_response
from dtrlab.registry_api import RegistryAPI
from dtrlab.router import Router
from dtrlab.store import RegistryError, iso

_NOT_AUTHENTICATED = ("NOT_AUTHENTICATED", "The client is not authenticated.")
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
_CRONS = (
    ("gc", "0 0 1 * * 6", 2, "15m", "30s"),
    ("update_vuln_db", "45 35 19 * * *", 0, "", ""),
    ("license_update", "57 54 3 * * *", 0, "", ""),
    ("onlinegc_joblogs", "0 0 2 * * *", 0, "", ""),
)


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
        route("GET", r"/api/v0/meta/cluster_status", self.cluster_status)
        route("GET", r"/api/v0/meta/settings", self.get_settings)
        route("POST", r"/api/v0/meta/settings", self.post_settings)
        route("GET", r"/api/v0/meta/features", self.features)
        route("GET", r"/api/v0/jobs", self.list_jobs)
        route("POST", r"/api/v0/jobs", self.create_job)
        route("GET", r"/api/v0/jobs/(?P<id>[^/]+)", self.get_job)
        route("DELETE", r"/api/v0/jobs/(?P<id>[^/]+)", self.delete_job)
        route("POST", r"/api/v0/jobs/(?P<id>[^/]+)/cancel", self.cancel_job)
        route("GET", r"/api/v0/jobs/(?P<id>[^/]+)/logs", self.job_logs)
        route("GET", r"/api/v0/workers", self.workers)
        route("GET", r"/api/v0/crons", self.crons)
        route("GET", r"/api/v0/crons/(?P<action>[^/]+)", self.cron)
        route("GET", r"/api/v0/imagescan/status", self.scan_status)
        route("PUT", r"/api/v0/imagescan/scan/update", self.scan_update)
        route("GET", r"/api/v0/repositories", self.repositories)
        route("POST", r"/api/v0/repositories/(?P<ns>[^/]+)", self.create_repository)
        route("GET", r"/api/v0/repositories/(?P<ns>[^/]+)/(?P<repo>[^/]+)", self.repository)
        route("GET", r"/api/v0/repositories/(?P<ns>[^/]+)/(?P<repo>[^/]+)/tags", self.tags)
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
        """GET /api/v0/docs.json: the contract, info.version = this replica's version."""
        return Response(200, docs_json(self.replica.version))

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

    def _settings(self) -> dict[str, Any]:
        cluster = self.cluster
        with cluster.lock:
            settings = dict(cluster.settings)
        replicas = cluster.replica_list()
        return {
            "dtrHost": cluster.dtr_host,
            "sso": False,
            "createRepositoryOnPush": bool(settings["createRepositoryOnPush"]),
            "replicaSettings": {
                r.id: {
                    "HTTPPort": 80,
                    "HTTPSPort": r.listener.port if r.listener else 443,
                    "node": f"lab-worker-{i + 1}",
                }
                for i, r in enumerate(replicas)
            },
            "httpProxy": "",
            "httpsProxy": "",
            "noProxy": "",
            "disableUpgrades": False,
            "reportAnalytics": False,
            "anonymizeAnalytics": False,
            "disableBackupWarning": bool(settings["disableBackupWarning"]),
            "logProtocol": "internal",
            "logHost": "",
            "logLevel": str(settings["logLevel"]),
            "webTLSCert": "",
            "webTLSCA": self.ca_pem,
            "webTLSClientCA": "",
            "clientCertAuthEnabled": False,
            "replicaID": self.replica.id,
            "scanningEnabled": bool(settings["scanningEnabled"]),
            "scanningSyncOnline": bool(settings["scanningSyncOnline"]),
            "scanningDeadline": 0,
            "scanningEnableAutoRecheck": True,
            "jobHistoryCompactionEnabled": True,
            "jobHistoryToKeep": 100,
            "jobHistoryMaxAge": "720h",
            "repoEventHistoryCompactionEnabled": False,
            "repoEventHistoryToKeep": 1000,
            "repoEventHistoryMaxAge": "720h",
            "storageVolume": "",
            "nfsHost": "",
            "nfsPath": "",
            "readOnlyRegistry": bool(settings["readOnlyRegistry"]),
            "disablePersistentCookies": False,
        }

    def get_settings(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/meta/settings (responses.Settings, 2.7 shape)."""
        return json_response(200, self._settings())

    def post_settings(self, request: Request, match: re.Match[str]) -> Response:
        """POST /api/v0/meta/settings: update the settings the lab models; 202."""
        try:
            body = request.json()
        except ValueError:
            return error_response(400, "INVALID_JSON", "the body is not JSON")
        if not isinstance(body, dict):
            return error_response(400, "INVALID_SETTINGS", "the body must be a JSON object")
        cluster = self.cluster
        with cluster.lock:
            for key in (
                "createRepositoryOnPush",
                "scanningEnabled",
                "scanningSyncOnline",
                "readOnlyRegistry",
                "disableBackupWarning",
            ):
                if key in body:
                    if not isinstance(body[key], bool):
                        return error_response(400, "INVALID_SETTINGS", f"{key} must be a boolean")
                    cluster.settings[key] = body[key]
            if "logLevel" in body:
                cluster.settings["logLevel"] = str(body["logLevel"])
        return json_response(202, self._settings())

    def features(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/meta/features (responses.Features)."""
        cluster = self.cluster
        with cluster.lock:
            body = {
                "scanningEnabled": bool(cluster.settings["scanningEnabled"]),
                "scanningLicensed": True,
                "promotionLicensed": True,
                "mirroringLicensed": True,
                "metadataStoreOptedIn": cluster.metadata_store_opted_in,
                "onlineGCEnabled": cluster.online_gc_enabled,
                "db_version": cluster.vuln_db_version,
                "ucpHost": cluster.ucp_host,
            }
        return json_response(200, body)

    # -- jobs --------------------------------------------------------------------------------

    def list_jobs(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/jobs?action=&worker=&running=&start=&limit= (newest first)."""
        try:
            start = int(request.arg("start", "0") or 0)
            limit = int(request.arg("limit", "10") or 10)
        except ValueError:
            return error_response(400, "INVALID_PARAMETERS", "start and limit must be integers")
        running = (request.arg("running", "any") or "any").lower()
        if running not in ("any", "true", "false"):
            return error_response(400, "INVALID_PARAMETERS", "running must be any, true or false")
        jobs = self.cluster.jobs.query(
            request.arg("action", "any") or "any",
            request.arg("worker", "any") or "any",
            running,
            max(start, 0),
            limit,
        )
        return json_response(200, {"jobs": [j.to_json() for j in jobs]})

    def create_job(self, request: Request, match: re.Match[str]) -> Response:
        """POST /api/v0/jobs (tmpforms.JobSubmission; only `action` is required): 202, the job."""
        try:
            body = request.json()
        except ValueError:
            return error_response(400, "INVALID_JSON", "the body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("action"), str):
            return error_response(
                400,
                "INVALID_JOB",
                'the body must be a JSON object with "action", '
                'e.g. {"action": "metadatastoremigration"}',
            )
        if body["action"] not in ACTIONS:
            return error_response(
                400, "INVALID_JOB_ACTION", f"unknown job action {body['action']!r}"
            )
        parameters = body.get("parameters") or {}
        capacity = body.get("capacityMap") or {}
        retries = body.get("retries", 0)
        if (
            not isinstance(parameters, dict)
            or not isinstance(capacity, dict)
            or not isinstance(retries, int)
            or not all(isinstance(v, int) for v in capacity.values())
        ):
            return error_response(
                400,
                "INVALID_JOB",
                "parameters and capacityMap (of integers) must be objects, retries an integer",
            )
        job = self.cluster.jobs.submit(
            body["action"],
            {str(k): str(v) for k, v in parameters.items()},
            retries=retries,
            origin="api",
            capacity_map={str(k): int(v) for k, v in capacity.items()},
            deadline=str(body.get("deadline", "")),
            stop_timeout=str(body.get("stopTimeout", "")),
        )
        return json_response(202, job.to_json())

    def _job(self, match: re.Match[str]) -> Any:
        job = self.cluster.jobs.get(match["id"])
        if job is None:
            raise JobRunnerError(404, "NO_SUCH_JOB", f"no job with ID {match['id']}")
        return job

    def get_job(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/jobs/{id}."""
        return json_response(200, self._job(match).to_json())

    def delete_job(self, request: Request, match: re.Match[str]) -> Response:
        """DELETE /api/v0/jobs/{id}: 204."""
        self._job(match)
        self.cluster.jobs.delete(match["id"])
        return Response(204)

    def cancel_job(self, request: Request, match: re.Match[str]) -> Response:
        """POST /api/v0/jobs/{id}/cancel: 204."""
        self._job(match)
        self.cluster.jobs.cancel(match["id"])
        return Response(204)

    def job_logs(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/jobs/{id}/logs: [{"data", "lineNum"}]."""
        job = self._job(match)
        with self.cluster.lock:
            lines = list(job.logs)
        try:
            offset = int(request.arg("offset", "0") or 0)
            limit = int(request.arg("limit", "0") or 0)
        except ValueError:
            return error_response(400, "INVALID_PARAMETERS", "offset and limit must be integers")
        selected = lines[offset : offset + limit] if limit > 0 else lines[offset:]
        return json_response(
            200, [{"data": line, "lineNum": offset + i} for i, line in enumerate(selected)]
        )

    def workers(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/workers (tmpresponses.Workers)."""
        expires = iso(datetime.now(UTC) + timedelta(seconds=30))
        healthy = set(self.cluster.worker_ids())
        workers = [
            {
                "id": r.id,
                "status": "running" if r.id in healthy else "stopped",
                "capacityMap": {"scan": 1, "scanCheck": 1},
                "heartbeatExpiration": expires,
            }
            for r in self.cluster.replica_list()
        ]
        return json_response(200, {"workers": workers})

    def _cron_list(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        return [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"cron.{action}")),
                "action": action,
                "schedule": schedule,
                "retries": retries,
                "capacityMap": {},
                "parameters": {},
                "deadline": deadline,
                "stopTimeout": stop_timeout,
                "nextRun": iso(cron_next_run(schedule, now)),
            }
            for action, schedule, retries, deadline, stop_timeout in _CRONS
        ]

    def crons(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/crons (tmpresponses.Crons)."""
        return json_response(200, {"crons": self._cron_list()})

    def cron(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/crons/{action}."""
        for cron in self._cron_list():
            if cron["action"] == match["action"]:
                return json_response(200, cron)
        return error_response(404, "NO_SUCH_CRON", f"no cron for action {match['action']}")

    # -- image scanning ----------------------------------------------------------------------

    def scan_status(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/imagescan/status (responses.NautilusStatus)."""
        cluster = self.cluster
        with cluster.lock:
            if not cluster.settings["scanningEnabled"]:
                return error_response(400, "SCANNING_NOT_ENABLED", "Scanning is not enabled")
            body = {
                "state": 0,
                "scanner_version": 3,
                "scannerUpdatedAt": iso(cluster.started_at - timedelta(days=30)),
                "db_version": cluster.vuln_db_version,
                "db_updated_at": iso(cluster.vuln_db_updated_at),
                "lastDBUpdateFailed": cluster.vuln_db_failed,
                "lastVulnOverridesDBUpdateFailed": False,
                "replicas": {
                    r.id: {"scannerType": 0, "version": ["3", r.version]}
                    for r in cluster.replicas.values()
                },
            }
        return json_response(200, body)

    def scan_update(self, request: Request, match: re.Match[str]) -> Response:
        """PUT /api/v0/imagescan/scan/update?online=true, or ?online=false with a multipart tar
        in form field `file` (or `upload`): starts an update_vuln_db job."""
        cluster = self.cluster
        if not cluster.settings["scanningEnabled"]:
            return error_response(400, "SCANNING_NOT_ENABLED", "Scanning is not enabled")
        if any(
            j.action == "update_vuln_db" and j.status in ("waiting", "running")
            for j in cluster.jobs.all()
        ):
            return error_response(
                400, "SCANNING_DB_NOT_READY", "a vulnerability database update is already running"
            )
        online = (request.arg("online", "false") or "false").lower() == "true"
        parameters = {"online": "true" if online else "false"}
        if not online:
            upload = _multipart_file(request, ("file", "upload"))
            if upload is None:
                return error_response(
                    400,
                    "INVALID_PARAMETERS",
                    "offline update needs a .tar database as multipart field 'file'",
                )
            try:
                with tarfile.open(fileobj=io.BytesIO(upload), mode="r:*") as tar:
                    tar.getmembers()
            except tarfile.TarError:
                return error_response(
                    400,
                    "INVALID_DB_FILE",
                    "the uploaded vulnerability database is not a tar archive",
                )
            parameters["size"] = str(len(upload))
        cluster.jobs.submit("update_vuln_db", parameters, origin="api")
        return json_response(200, "Successfully started to update vulnerability DB.")

    # -- repositories ------------------------------------------------------------------------

    def _repository_json(self, repo: Any) -> dict[str, Any]:
        return {
            "id": repo.id,
            "namespace": repo.namespace,
            "namespaceType": repo.namespace_type,
            "name": repo.name,
            "shortDescription": "",
            "longDescription": "",
            "visibility": "private" if repo.namespace_type == "organization" else "public",
            "scanOnPush": False,
            "immutableTags": False,
            "enableManifestLists": False,
            "pulls": repo.pulls,
            "pushes": repo.pushes,
            "tagLimit": 0,
        }

    def _served(self, page_size: int) -> int:
        """How many items a page holds: `pageSize`, or fewer with `max_page_items`."""
        cap = self.cluster.config.max_page_items
        return min(page_size, cap) if cap else page_size

    def repositories(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/repositories?pageStart=&pageSize=&count=."""
        try:
            page_size = int(request.arg("pageSize", "10") or 10)
        except ValueError:
            return error_response(400, "INVALID_PARAMETERS", "pageSize must be an integer")
        if page_size < 1:
            return error_response(400, "INVALID_PARAMETERS", "pageSize must be at least 1")
        repos, following = self.cluster.store.page_repositories(
            request.arg("pageStart"), self._served(page_size)
        )
        headers = [("X-Next-Page-Start", following)] if following else []
        if (request.arg("count", "false") or "").lower() == "true":
            headers.append(("X-Resource-Count", str(self.cluster.store.repository_count())))
        return json_response(
            200, {"repositories": [self._repository_json(r) for r in repos]}, headers
        )

    def create_repository(self, request: Request, match: re.Match[str]) -> Response:
        """POST /api/v0/repositories/{namespace} {"name", "visibility"}: 201 and the repository."""
        try:
            body = request.json()
        except ValueError:
            return error_response(400, "INVALID_JSON", "the body is not JSON")
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", name):
            return error_response(
                400,
                "INVALID_REPOSITORY_NAME",
                "name must be lower-case letters, digits, '.', '_' or '-'",
            )
        store = self.cluster.store
        if store.repository(f"{match['ns']}/{name}") is not None:
            return error_response(
                400, "REPOSITORY_EXISTS", f"repository {match['ns']}/{name} already exists"
            )
        repo = store.create_repository(match["ns"], name)
        return json_response(201, self._repository_json(repo))

    def repository(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/repositories/{namespace}/{reponame}."""
        repo = self.cluster.store.repository(f"{match['ns']}/{match['repo']}")
        if repo is None:
            return error_response(
                404,
                "NO_SUCH_REPOSITORY",
                f"repository {match['ns']}/{match['repo']} does not exist",
            )
        return json_response(200, self._repository_json(repo))

    def tags(self, request: Request, match: re.Match[str]) -> Response:
        """GET /api/v0/repositories/{namespace}/{reponame}/tags (array of responses.ListTag),
        paged by tag name with pageStart/pageSize and X-Next-Page-Start."""
        full_name = f"{match['ns']}/{match['repo']}"
        store = self.cluster.store
        if store.repository(full_name) is None:
            return error_response(
                404, "NO_SUCH_REPOSITORY", f"repository {full_name} does not exist"
            )
        try:
            page_size = int(request.arg("pageSize", "10") or 10)
        except ValueError:
            return error_response(400, "INVALID_PARAMETERS", "pageSize must be an integer")
        records = store.tags(full_name)
        start = request.arg("pageStart")
        index = next((i for i, r in enumerate(records) if r.name == start), 0) if start else 0
        page = records[index : index + self._served(max(page_size, 1))]
        following = records[index + len(page)].name if index + len(page) < len(records) else None
        body = [
            {
                "name": r.name,
                "digest": r.digest or "",
                "author": r.author,
                "updatedAt": iso(r.updated_at),
                "createdAt": iso(r.created_at),
                "hashMismatch": False,
                "inNotary": False,
                "manifest": store.manifest_summary(full_name, r.digest or ""),
            }
            for r in page
        ]
        headers = [("X-Next-Page-Start", following)] if following else []
        if (request.arg("count", "false") or "").lower() == "true":
            headers.append(("X-Resource-Count", str(len(records))))
        return json_response(200, body, headers)

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


def _multipart_file(request: Request, fields: tuple[str, ...]) -> bytes | None:
    """The content of the first multipart/form-data part named one of `fields`."""
    content_type = request.header("Content-Type") or ""
    if "multipart/form-data" not in content_type:
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") in fields:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None
