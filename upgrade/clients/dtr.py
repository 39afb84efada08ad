"""The DTR API client (`/_ping`, `/api/v0/...`), answering with the typed, immutable records of
`upgrade.clients.dtr_records`.

Authentication is HTTP basic with `DTR_USERNAME` and `DTR_TOKEN` (preferred) or `DTR_PASSWORD`
(see `upgrade.clients.secrets`). Shapes follow the DTR 2.6/2.7 API contract; where the sources
disagree (job log key `data`/`Data`, job status words) both forms are accepted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from upgrade.clients.dtr_records import (
    ClusterStatus,
    Cron,
    Features,
    Job,
    JobLogLine,
    ReplicaSettings,
    Repository,
    ScanStatus,
    Settings,
    Tag,
)
from upgrade.clients.errors import APIError
from upgrade.clients.http import (
    DTR,
    Ping,
    ServiceClient,
)
from upgrade.clients.json import JsonReader
from upgrade.clients.secrets import DTRCredentials
from upgrade.errors import HarnessError

__all__ = ["DTRClient", "Ping"]

V = TypeVar("V")

DEFAULT_PAGE_SIZE = 100
MAX_PAGES = 10_000


class DTRClient(ServiceClient[DTRCredentials]):
    """Client of one DTR cluster's API, reached at `base_url` (the load-balanced address).

    Methods taking `url` may be pointed at one replica's own address instead. Use as a context
    manager or call `close()`.
    """

    service = DTR

    def _setup(self) -> None:
        self.http.session.auth = (self.credentials.username, self.credentials.secret)

    def ping(self, url: str | None = None) -> Ping:
        """`GET /_ping` of one replica (or the load balancer).

        Any status is a result, not an error, and is not retried: 200 with `Healthy: true` is
        healthy; 503 (with `Error` naming the failing service) or a proxy's 502 is unhealthy.
        Only an unreachable replica raises (`TargetUnreachable`).
        """
        response = self.http.request("GET", "/_ping", base=url, expect=range(200, 600))
        status = response.status_code
        if status == 200:
            reader = self.http.json(response)
            healthy = reader.get("Healthy", bool)
            return Ping(healthy=healthy, error=reader.get("Error", str, default=""), status=status)
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("Error") if isinstance(body, dict) else None
        if not isinstance(error, str) or not error:
            error = self.http.excerpt(response.text) or f"HTTP {status}"
        return Ping(healthy=False, error=self.http.redactor.redact(error), status=status)

    def version(self, url: str | None = None) -> str:
        """The DTR version of whichever replica serves `docs.json` (`info.version`)."""
        reader = self.http.get_json("/api/v0/docs.json", base=url)
        info = reader.child(reader.get("info", dict), "info")
        version = info.get("version", str)
        if not version:
            raise self.http.bad_response(reader.endpoint, "an empty info.version", info.data)
        return version

    def cluster_status(self) -> ClusterStatus:
        """`GET /api/v0/meta/cluster_status` (admin)."""
        reader = self.http.get_json("/api/v0/meta/cluster_status")
        raw = reader.object()
        tables = reader.child(reader.get("rethink_system_tables", dict), "rethink_system_tables")
        issues = [*tables.get("current_issues", list, default=[])]
        issues += reader.get("current_issues", list, default=[])
        not_ready = []
        for entry in tables.get("table_status", list, default=[]):
            table = tables.child(entry, "table_status")
            status = table.child(table.get("status", dict), "table_status.status")
            if not status.get("all_replicas_ready", bool):
                db = table.get("db", str, default="")
                not_ready.append(f"{db}.{table.get('name', str)}")
        return ClusterStatus(
            replica_health=_str_map(reader, "replica_health", str),
            current_issues=tuple(
                issue if isinstance(issue, dict) else {"description": str(issue)}
                for issue in issues
            ),
            tables_not_ready=tuple(sorted(not_ready)),
            replica_readonly=_str_map(reader, "replica_readonly", bool),
            gc_lock_holder=reader.get("gc_lock_holder", str, default=""),
            raw=raw,
        )

    def settings(self) -> Settings:
        """`GET /api/v0/meta/settings` (admin)."""
        reader = self.http.get_json("/api/v0/meta/settings")
        replicas = []
        for rid, entry in sorted(reader.get("replicaSettings", dict, default={}).items()):
            replica = reader.child(entry, f"replicaSettings.{rid}")
            replicas.append(
                ReplicaSettings(
                    replica_id=rid,
                    node=replica.get("node", str, default=""),
                    http_port=replica.get("HTTPPort", int, default=80),
                    https_port=replica.get("HTTPSPort", int, default=443),
                )
            )
        return Settings(
            replicas=tuple(replicas),
            dtr_host=reader.get("dtrHost", str, default=""),
            replica_id=reader.get("replicaID", str, default=""),
            scanning_enabled=reader.get("scanningEnabled", bool, default=False),
            scanning_sync_online=reader.get("scanningSyncOnline", bool, default=False),
            read_only_registry=reader.get("readOnlyRegistry", bool, default=False),
            raw=reader.object(),
        )

    def features(self) -> Features:
        """`GET /api/v0/meta/features`."""
        reader = self.http.get_json("/api/v0/meta/features")
        return Features(
            scanning_enabled=reader.get("scanningEnabled", bool, default=False),
            scanning_licensed=reader.get("scanningLicensed", bool, default=False),
            online_gc_enabled=reader.get("onlineGCEnabled", bool, default=False),
            metadata_store_opted_in=reader.get("metadataStoreOptedIn", bool, default=False),
            db_version=reader.get("db_version", int, default=0),
            ucp_host=reader.get("ucpHost", str, default=""),
            raw=reader.object(),
        )

    def jobs(
        self,
        action: str = "any",
        running: str = "any",
        worker: str = "any",
        *,
        limit: int = 1000,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> list[Job]:
        """Jobs, most recently scheduled first, at most `limit` of them (pages of `page_size`)."""
        jobs: list[Job] = []
        start = 0
        while len(jobs) < limit:
            size = min(page_size, limit - len(jobs))
            params: dict[str, str | int] = {
                "action": action,
                "running": running,
                "worker": worker,
                "start": start,
                "limit": size,
            }
            response = self.http.request("GET", "/api/v0/jobs", params=params)
            reader = self.http.json(response)
            page = reader.get("jobs", list, default=[])
            jobs += [_job(reader.child(item, "jobs[]")) for item in page]
            # `start` is an offset (the contract's ListJobs); a short page ends the listing
            # unless the server says where the next one starts, as the repository listings do.
            following = response.headers.get("X-Next-Page-Start", "")
            if not page or (len(page) < size and not following.isdigit()):
                break
            start = int(following) if following.isdigit() else start + len(page)
        return jobs[:limit]

    def job(self, job_id: str) -> Job:
        """`GET /api/v0/jobs/{id}`."""
        return _job(self.http.get_json(f"/api/v0/jobs/{_segment(job_id, JOB_ID)}"))

    def job_logs(self, job_id: str) -> tuple[JobLogLine, ...]:
        """`GET /api/v0/jobs/{id}/logs`, lines in order (`data` in 2.5+, `Data` before)."""
        reader = self.http.get_json(f"/api/v0/jobs/{_segment(job_id, JOB_ID)}/logs")
        lines = []
        for index, item in enumerate(reader.list()):
            line = reader.child(item, "log line")
            obj = line.object()
            key = "data" if "data" in obj else "Data"
            number_key = "lineNum" if "lineNum" in obj else "LineNum"
            lines.append(
                JobLogLine(
                    line_num=line.get(number_key, int, default=index),
                    data=line.get(key, str),
                )
            )
        return tuple(sorted(lines, key=lambda entry: entry.line_num))

    def submit_job(self, action: str, parameters: Mapping[str, str] | None = None) -> Job:
        """`POST /api/v0/jobs` (202), e.g. to re-trigger `metadatastoremigration`; never retried."""
        body: dict[str, Any] = {"action": action}
        if parameters:
            body["parameters"] = dict(parameters)
        response = self.http.request("POST", "/api/v0/jobs", json=body, expect=(200, 201, 202))
        return _job(self.http.json(response))

    def crons(self) -> tuple[Cron, ...]:
        """`GET /api/v0/crons`."""
        reader = self.http.get_json("/api/v0/crons")
        crons = []
        for item in reader.get("crons", list, default=[]):
            cron = reader.child(item, "crons[]")
            crons.append(
                Cron(
                    id=cron.get("id", str, default=""),
                    action=cron.get("action", str),
                    schedule=cron.get("schedule", str, default=""),
                    retries=cron.get("retries", int, default=0),
                    next_run=cron.time("nextRun"),
                    raw=cron.object(),
                )
            )
        return tuple(crons)

    def imagescan_status(self) -> ScanStatus | None:
        """`GET /api/v0/imagescan/status`; None when scanning is not enabled (400)."""
        try:
            reader = self.http.get_json("/api/v0/imagescan/status")
        except APIError as error:
            if error.status == 400 and error.code == "SCANNING_NOT_ENABLED":
                return None
            raise
        return ScanStatus(
            state=reader.get("state", int, default=0),
            scanner_version=reader.get("scanner_version", int, default=0),
            scanner_updated_at=reader.time("scannerUpdatedAt"),
            db_version=reader.get("db_version", int, default=0),
            db_updated_at=reader.time("db_updated_at"),
            last_db_update_failed=reader.get("lastDBUpdateFailed", bool),
            last_vuln_overrides_db_update_failed=reader.get(
                "lastVulnOverridesDBUpdateFailed", bool, default=False
            ),
            raw=reader.object(),
        )

    def update_vuln_db(self, online: bool = True, file: Path | None = None) -> None:
        """Start a vulnerability database update: online, or by uploading an offline `.tar`.

        `PUT /api/v0/imagescan/scan/update?online=...`; the offline database goes as the
        multipart field `file` (the API contract's name). Not retried: it starts an action.
        """
        if file is not None and online:
            raise HarnessError("an offline vulnerability database file needs online=False")
        path = "/api/v0/imagescan/scan/update"
        params = {"online": "true" if online else "false"}
        if file is None:
            self.http.request("PUT", path, params=params, idempotent=False, expect=(200, 202))
            return
        if not file.is_file():
            raise HarnessError(
                f"vulnerability database {file}: no such file; pass the .tar downloaded for "
                "offline scanning"
            )
        with file.open("rb") as stream:
            self.http.request(
                "PUT",
                path,
                params=params,
                files={"file": (file.name, stream, "application/x-tar")},
                idempotent=False,
                expect=(200, 202),
                timeout=(self.http.timeout[0], max(self.http.timeout[1], 300.0)),
            )

    def repositories(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, max_pages: int = MAX_PAGES
    ) -> list[Repository]:
        """Every repository visible to the account, following `X-Next-Page-Start`."""
        repositories = []
        for reader in self._pages("/api/v0/repositories", page_size, max_pages):
            for item in reader.get("repositories", list, default=[]):
                repo = reader.child(item, "repositories[]")
                repositories.append(
                    Repository(
                        id=repo.get("id", str, default=""),
                        namespace=repo.get("namespace", str),
                        name=repo.get("name", str),
                    )
                )
        return repositories

    def tags(
        self,
        namespace: str,
        repo: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_pages: int = MAX_PAGES,
    ) -> list[Tag]:
        """The tags of `namespace/repo` with the digests DTR records for them."""
        names = _segment(namespace, NAMESPACE), _segment(repo, REPOSITORY)
        path = "/api/v0/repositories/{}/{}/tags".format(*names)
        tags = []
        for reader in self._pages(path, page_size, max_pages):
            for item in reader.list():
                tag = reader.child(item, "tags[]")
                manifest = tag.child(tag.get("manifest", dict, default={}), "tags[].manifest")
                tags.append(
                    Tag(
                        name=tag.get("name", str),
                        digest=tag.get("digest", str, default=""),
                        updated_at=tag.time("updatedAt"),
                        media_type=manifest.get("mediaType", str, default=""),
                    )
                )
        return tags

    def _pages(self, path: str, page_size: int, max_pages: int) -> Iterator[JsonReader]:
        """Pages of a `pageStart`/`pageSize` listing, next start from `X-Next-Page-Start`.

        Only the header's absence ends the listing: a short page is not the end, since a listing
        is "filtered to only those repositories visible to the client" and Harbor's DTR client
        follows `X-Next-Page-Start` alone (fidelity-review.md 14). A start seen twice (a server
        that does not page) is a `BadResponse` rather than an endless loop.
        """
        params: dict[str, str | int] = {"pageSize": page_size}
        seen: set[str] = set()
        for _ in range(max_pages):
            response = self.http.request("GET", path, params=params)
            reader = self.http.json(response)
            yield reader
            next_start = response.headers.get("X-Next-Page-Start", "")
            if not next_start:
                return
            if next_start in seen:
                raise self.http.bad_response(
                    reader.endpoint, f"page start {next_start!r} twice (paging loops)", ""
                )
            seen.add(next_start)
            params["pageStart"] = next_start
        raise HarnessError(
            f"DTR listing {path} did not end within {max_pages} pages of {page_size}; "
            "raise the page limit if the registry is really that large"
        )


def _job(reader: JsonReader) -> Job:
    return Job(
        id=reader.get("id", str),
        action=reader.get("action", str),
        status=reader.get("status", str),
        worker_id=reader.get("workerID", str, default=""),
        scheduled_at=reader.time("scheduledAt"),
        last_updated=reader.time("lastUpdated"),
        retries_left=reader.get("retriesLeft", int, default=0),
        retries_total=reader.get("retriesTotal", int, default=0),
        retry_from_id=reader.get("retryFromID", str, default=""),
        raw=reader.object(),
    )


def _str_map(reader: JsonReader, key: str, kind: type[V]) -> dict[str, V]:
    mapping = reader.get(key, dict, default={})
    result: dict[str, V] = {}
    for name, value in mapping.items():
        if not isinstance(value, kind):
            raise reader.child(mapping, key).fail(
                f"{key}.{name} of the wrong type (expected {kind.__name__})"
            )
        result[str(name)] = value
    return result


JOB_ID = "job ID (in GET /api/v0/jobs)"
NAMESPACE = "repository namespace (in GET /api/v0/repositories)"
REPOSITORY = "repository name (in GET /api/v0/repositories)"


def _segment(value: str, what: str) -> str:
    """Quote one path segment so IDs and names cannot change the path. Names and IDs come from
    DTR's own answers, where the 2.6/2.7 contract types them only as strings, so one may be
    empty."""
    if not value:
        raise HarnessError(
            f"DTR answered an empty {what}, which no API path can address; find the entry "
            "with the blank value in that answer and fix or remove it in DTR"
        )
    return quote(value, safe="")
