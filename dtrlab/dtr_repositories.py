"""Repositories and their tags as a replica answers them: /api/v0/repositories (paged with
pageStart/pageSize, `X-Next-Page-Start` and, with count=true, `X-Resource-Count`), one
repository, and its tags (an array of responses.ListTag, paged by tag name)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dtrlab.cluster import Cluster
from dtrlab.listener import Request, Response, error_response, json_response
from dtrlab.router import Router
from dtrlab.store import iso


class RepositoriesAPI:
    """The repository and tag handlers of one replica."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def routes(self, router: Router) -> None:
        """Declare the /api/v0/repositories routes."""
        route = router.add
        route("GET", r"/api/v0/repositories", self.repositories)
        route("POST", r"/api/v0/repositories/(?P<ns>[^/]+)", self.create_repository)
        route("GET", r"/api/v0/repositories/(?P<ns>[^/]+)/(?P<repo>[^/]+)", self.repository)
        route("GET", r"/api/v0/repositories/(?P<ns>[^/]+)/(?P<repo>[^/]+)/tags", self.tags)

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
        headers = _paging_headers(request, following, self.cluster.store.repository_count)
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
        return json_response(200, body, _paging_headers(request, following, lambda: len(records)))


def _paging_headers(
    request: Request, following: str | None, total: Callable[[], int]
) -> list[tuple[str, str]]:
    """`X-Next-Page-Start` when another page follows, and `X-Resource-Count` (`total()`) when
    the request asks with `count=true`."""
    headers = [("X-Next-Page-Start", following)] if following else []
    if (request.arg("count", "false") or "").lower() == "true":
        headers.append(("X-Resource-Count", str(total())))
    return headers
