"""The settings and features a replica answers: GET/POST /api/v0/meta/settings
(responses.Settings, 2.7 shape) and GET /api/v0/meta/features (responses.Features)."""

from __future__ import annotations

import re
from typing import Any

from dtrlab.cluster import Cluster, Replica, node_name
from dtrlab.listener import Request, Response, error_response, json_response
from dtrlab.router import Router


class SettingsAPI:
    """The settings and features handlers of one replica (the settings name it and its CA)."""

    def __init__(self, cluster: Cluster, replica: Replica, ca_pem: str) -> None:
        self.cluster = cluster
        self.replica = replica
        self.ca_pem = ca_pem

    def routes(self, router: Router) -> None:
        """Declare the /api/v0/meta/settings and /api/v0/meta/features routes."""
        route = router.add
        route("GET", r"/api/v0/meta/settings", self.get_settings)
        route("POST", r"/api/v0/meta/settings", self.post_settings)
        route("GET", r"/api/v0/meta/features", self.features)

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
                    "node": node_name(i),
                }
                for i, r in enumerate(replicas)
            },
            "httpProxy": "",
            "httpsProxy": "",
            "noProxy": "",
            "disableUpgrades": cluster.config.has("upgrades-disabled"),
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
