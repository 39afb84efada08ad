"""The job runner's API as a replica answers it: /api/v0/jobs (tmpresponses.Job, newest
first), a job's logs, /api/v0/workers and /api/v0/crons (tmpresponses.Workers, Crons)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from dtrlab.cluster import Cluster
from dtrlab.jobs import ACTIONS, JobRunnerError, cron_next_run
from dtrlab.listener import Request, Response, error_response, json_response
from dtrlab.router import Router
from dtrlab.store import iso

_CRONS = (
    ("gc", "0 0 1 * * 6", 2, "15m", "30s"),
    ("update_vuln_db", "45 35 19 * * *", 0, "", ""),
    ("license_update", "57 54 3 * * *", 0, "", ""),
    ("onlinegc_joblogs", "0 0 2 * * *", 0, "", ""),
)


class JobsAPI:
    """The jobs, workers and crons handlers of one replica."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def routes(self, router: Router) -> None:
        """Declare the /api/v0/jobs, /api/v0/workers and /api/v0/crons routes."""
        route = router.add
        route("GET", r"/api/v0/jobs", self.list_jobs)
        route("POST", r"/api/v0/jobs", self.create_job)
        route("GET", r"/api/v0/jobs/(?P<id>[^/]+)", self.get_job)
        route("DELETE", r"/api/v0/jobs/(?P<id>[^/]+)", self.delete_job)
        route("POST", r"/api/v0/jobs/(?P<id>[^/]+)/cancel", self.cancel_job)
        route("GET", r"/api/v0/jobs/(?P<id>[^/]+)/logs", self.job_logs)
        route("GET", r"/api/v0/workers", self.workers)
        route("GET", r"/api/v0/crons", self.crons)
        route("GET", r"/api/v0/crons/(?P<action>[^/]+)", self.cron)

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
