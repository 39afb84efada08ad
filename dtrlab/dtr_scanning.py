"""Image scanning as a replica answers it: GET /api/v0/imagescan/status
(responses.NautilusStatus) and PUT /api/v0/imagescan/scan/update, which starts an
update_vuln_db job (online, or offline with an uploaded .tar database)."""

from __future__ import annotations

import io
import re
import tarfile
from datetime import timedelta
from email.parser import BytesParser
from email.policy import HTTP

from dtrlab.cluster import Cluster
from dtrlab.listener import Request, Response, error_response, json_response
from dtrlab.router import Router
from dtrlab.store import iso


class ScanningAPI:
    """The image-scanning handlers of one replica."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def routes(self, router: Router) -> None:
        """Declare the /api/v0/imagescan routes."""
        router.add("GET", r"/api/v0/imagescan/status", self.scan_status)
        router.add("PUT", r"/api/v0/imagescan/scan/update", self.scan_update)

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
