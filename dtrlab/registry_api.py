"""The registry's /v2/ API (Docker distribution), with DTR's token authentication.

Requests need `Authorization: Bearer <token>` from /auth/token; without it the answer is 401
with `WWW-Authenticate: Bearer realm="https://<host>/auth/token",service="<host>"`, as
distribution answers, so standard clients find the token service by themselves.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from dtrlab.auth import bearer_token
from dtrlab.listener import Request, Response, error_response, json_response
from dtrlab.store import MANIFEST_TYPES, RegistryError

if TYPE_CHECKING:
    from dtrlab.cluster import Cluster

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?P<name>{_COMPONENT}(?:/{_COMPONENT})+)"
_DIGEST = r"sha256:[a-f0-9]{64}"
_ROUTES = (
    ("tags", re.compile(rf"^/v2/{_NAME}/tags/list$")),
    (
        "manifest",
        re.compile(
            rf"^/v2/{_NAME}/manifests/(?P<reference>[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}|{_DIGEST})$"
        ),
    ),
    ("upload", re.compile(rf"^/v2/{_NAME}/blobs/uploads/?$")),
    ("upload_session", re.compile(rf"^/v2/{_NAME}/blobs/uploads/(?P<upload>[A-Za-z0-9-]+)$")),
    ("blob", re.compile(rf"^/v2/{_NAME}/blobs/(?P<digest>[a-z0-9]+:[A-Za-z0-9=_-]+)$")),
)
API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")


class RegistryAPI:
    """The /v2/ endpoints over the lab's RegistryStore."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store

    def __call__(self, request: Request) -> Response:
        """Answer one /v2/ request."""
        try:
            response = self._dispatch(request)
        except RegistryError as exc:
            response = error_response(exc.status, exc.code, exc.message)
        response.headers.append(API_VERSION)
        return response

    def _challenge(self, request: Request, scope: str | None) -> Response:
        host = request.host
        challenge = f'Bearer realm="https://{host}/auth/token",service="{host}"'
        if scope:
            challenge += f',scope="{scope}"'
        return error_response(
            401, "UNAUTHORIZED", "authentication required", [("WWW-Authenticate", challenge)]
        )

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        scope: str | None = None
        kind, match = "root", None
        if path in ("/v2", "/v2/"):
            kind = "root"
        elif path == "/v2/_catalog":
            kind = "catalog"
            scope = "registry:catalog:*"
        else:
            for name, pattern in _ROUTES:
                match = pattern.match(path)
                if match:
                    kind = name
                    access = "pull" if request.method in ("GET", "HEAD") else "pull,push"
                    scope = f"repository:{match['name']}:{access}"
                    break
            else:
                return error_response(
                    404, "NAME_INVALID", f"invalid repository name or path: {path}"
                )
        token = bearer_token(request)
        if token is None or not self.cluster.check_bearer(token):
            return self._challenge(request, scope)
        if kind == "root":
            return json_response(200, {})
        if kind == "catalog":
            return self._catalog(request)
        assert match is not None
        handler = getattr(self, f"_{kind}_{request.method.lower()}", None)
        if handler is None and request.method == "HEAD":
            handler = getattr(self, f"_{kind}_get", None)
        if handler is None:
            return error_response(
                405, "UNSUPPORTED", f"{request.method} is not supported on {path}"
            )
        response: Response = handler(request, match)
        return response

    def _catalog(self, request: Request) -> Response:
        names = self.store.repository_names()
        last = request.arg("last")
        if last:
            names = [n for n in names if n > last]
        headers: list[tuple[str, str]] = []
        n = request.arg("n")
        if n:
            count = max(int(n), 0) if n.isdigit() else 100
            if len(names) > count:
                names = names[:count]
                headers.append(
                    ("Link", f'</v2/_catalog?last={quote(names[-1])}&n={count}>; rel="next"')
                )
        return json_response(200, {"repositories": names}, headers)

    def _tags_get(self, request: Request, match: re.Match[str]) -> Response:
        records = self.store.tags(match["name"])
        return json_response(200, {"name": match["name"], "tags": [r.name for r in records]})

    # -- manifests ---------------------------------------------------------------------------

    def _manifest_get(self, request: Request, match: re.Match[str]) -> Response:
        digest, media_type, body = self.store.manifest(match["name"], match["reference"])
        if request.method == "GET":
            repo = self.store.repository(match["name"])
            if repo is not None:
                repo.pulls += 1
        return Response(
            200,
            body,
            [("Docker-Content-Digest", digest), ("ETag", f'"{digest}"')],
            content_type=media_type,
        )

    def _manifest_put(self, request: Request, match: re.Match[str]) -> Response:
        media_type = (request.header("Content-Type") or "").split(";")[0].strip()
        if media_type and media_type not in MANIFEST_TYPES and "v1" not in media_type:
            raise RegistryError(
                400, "MANIFEST_INVALID", f"unsupported manifest media type {media_type}"
            )
        create = bool(self.cluster.settings["createRepositoryOnPush"])
        digest = self.store.put_manifest(
            match["name"], match["reference"], media_type, request.body, create
        )
        location = f"/v2/{match['name']}/manifests/{digest}"
        return Response(
            201, b"", [("Location", location), ("Docker-Content-Digest", digest)], content_type=None
        )

    def _manifest_delete(self, request: Request, match: re.Match[str]) -> Response:
        self.store.delete_manifest(match["name"], match["reference"])
        return Response(202, b"", content_type=None)

    # -- blobs -------------------------------------------------------------------------------

    def _blob_get(self, request: Request, match: re.Match[str]) -> Response:
        self._require_repository(match["name"])
        data = self.store.linked_blob(match["name"], match["digest"])
        if data is None:
            raise RegistryError(404, "BLOB_UNKNOWN", f"blob unknown to registry: {match['digest']}")
        return Response(
            200,
            data,
            [("Docker-Content-Digest", match["digest"])],
            content_type="application/octet-stream",
        )

    def _require_repository(self, name: str) -> None:
        if self.store.repository(name) is None:
            raise RegistryError(
                404, "NAME_UNKNOWN", f"repository name not known to registry: {name}"
            )

    # -- uploads -----------------------------------------------------------------------------

    def _upload_location(self, name: str, upload_id: str, size: int, status: int) -> Response:
        return Response(
            status,
            b"",
            [
                ("Location", f"/v2/{name}/blobs/uploads/{upload_id}"),
                ("Docker-Upload-UUID", upload_id),
                ("Range", f"0-{max(size - 1, 0)}"),
            ],
            content_type=None,
        )

    def _blob_created(self, name: str, digest: str) -> Response:
        headers = [("Location", f"/v2/{name}/blobs/{digest}"), ("Docker-Content-Digest", digest)]
        return Response(201, b"", headers, content_type=None)

    def _ensure_repository(self, name: str) -> None:
        if self.store.repository(name) is None:
            if not self.cluster.settings["createRepositoryOnPush"]:
                raise RegistryError(404, "NAME_UNKNOWN", f"repository {name} does not exist")
            namespace, _, repo = name.partition("/")
            self.store.create_repository(namespace, repo)

    def _upload_post(self, request: Request, match: re.Match[str]) -> Response:
        name = match["name"]
        self._ensure_repository(name)
        mount, source = request.arg("mount"), request.arg("from")
        if (
            mount
            and source
            and self.store.blob(mount) is not None
            and self.store.repository(source) is not None
        ):
            return self._blob_created(name, mount)
        upload_id = self.store.start_upload(name)
        digest = request.arg("digest")
        if digest:
            final = self.store.finish_upload(name, upload_id, request.body, digest)
            return self._blob_created(name, final)
        if request.body:
            self.store.append_upload(name, upload_id, request.body)
        return self._upload_location(name, upload_id, self.store.upload_size(name, upload_id), 202)

    def _upload_session_get(self, request: Request, match: re.Match[str]) -> Response:
        size = self.store.upload_size(match["name"], match["upload"])
        return self._upload_location(match["name"], match["upload"], size, 204)

    def _upload_session_patch(self, request: Request, match: re.Match[str]) -> Response:
        content_range = request.header("Content-Range")
        if content_range:
            current = self.store.upload_size(match["name"], match["upload"])
            start = content_range.split("-", 1)[0].strip()
            if not start.isdigit() or int(start) != current:
                raise RegistryError(
                    416,
                    "BLOB_UPLOAD_INVALID",
                    f"Content-Range {content_range} does not continue at byte {current}",
                )
        size = self.store.append_upload(match["name"], match["upload"], request.body)
        return self._upload_location(match["name"], match["upload"], size, 202)

    def _upload_session_put(self, request: Request, match: re.Match[str]) -> Response:
        digest = request.arg("digest")
        if not digest:
            raise RegistryError(
                400,
                "DIGEST_INVALID",
                "the digest query parameter is required to complete an upload",
            )
        final = self.store.finish_upload(match["name"], match["upload"], request.body, digest)
        return self._blob_created(match["name"], final)

    def _upload_session_delete(self, request: Request, match: re.Match[str]) -> Response:
        self.store.cancel_upload(match["name"], match["upload"])
        return Response(204)
