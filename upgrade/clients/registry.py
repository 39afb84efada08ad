"""The registry client: DTR's Docker Registry HTTP API V2 (`/v2/`) data plane.

Authentication (bearer tokens from the registry's challenge, renewed before they expire and on
401) is `upgrade.clients.registry_auth`'s; this module holds the API calls.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from upgrade.clients.http import REGISTRY
from upgrade.clients.json import JsonReader
from upgrade.clients.registry_auth import DEFAULT_TOKEN_LIFETIME_S, TokenAuthClient, token_lifetime
from upgrade.errors import HarnessError

__all__ = [
    "DEFAULT_TOKEN_LIFETIME_S",
    "MANIFEST_MEDIA_TYPES",
    "Fetched",
    "Manifest",
    "RegistryClient",
    "sha256_digest",
    "token_lifetime",
]

MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
ACCEPT_MANIFESTS = ", ".join(MANIFEST_MEDIA_TYPES)
DEFAULT_PAGE_SIZE = 100
MAX_PAGES = 10_000
MAX_BLOB_BYTES = 64 * 1024 * 1024

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG = re.compile(r"[\w][\w.-]{0,127}")
DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")


@dataclass(frozen=True)
class Manifest:
    """A manifest as served: its media type, its digest and its exact bytes."""

    media_type: str
    digest: str
    body: bytes


@dataclass(frozen=True)
class Fetched:
    """A manifest as the proof meets it: the HTTP status and, on 200, its type and exact bytes
    (not checked against the digest here: the proof does that and records the difference)."""

    status: int
    media_type: str = ""
    body: bytes = b""


def sha256_digest(data: bytes) -> str:
    """The content digest of `data` as the registry writes it (`sha256:<hex>`)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryClient(TokenAuthClient):
    """Client of DTR's `/v2/` API at `base_url`, with token auth and verified content."""

    service = REGISTRY

    def ping(self) -> str:
        """`GET /v2/` (authenticated); the `Docker-Distribution-API-Version` it reports."""
        response = self._call("GET", "/v2/", "")
        return response.headers.get("Docker-Distribution-API-Version", "registry/2.0")

    def catalog(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, max_pages: int = MAX_PAGES
    ) -> list[str]:
        """Every repository name (`GET /v2/_catalog`, following `Link` pages)."""
        names: list[str] = []
        for reader in self._pages("/v2/_catalog", "registry:catalog:*", page_size, max_pages):
            names += _strings(reader, "repositories")
        return names

    def tags(
        self, repo: str, *, page_size: int = DEFAULT_PAGE_SIZE, max_pages: int = MAX_PAGES
    ) -> list[str]:
        """The tags of `repo` (`GET /v2/<repo>/tags/list`, following `Link` pages)."""
        path = f"/v2/{_repo(repo)}/tags/list"
        tags: list[str] = []
        for reader in self._pages(path, _pull(repo), page_size, max_pages):
            tags += _strings(reader, "tags")
        return tags

    def manifest_digest(self, repo: str, reference: str) -> str:
        """The digest `reference` resolves to (`HEAD`, `Docker-Content-Digest`).

        Falls back to hashing the manifest when the registry does not send the header.
        """
        path = f"/v2/{_repo(repo)}/manifests/{_reference(reference)}"
        response = self._call("HEAD", path, _pull(repo), headers={"Accept": ACCEPT_MANIFESTS})
        digest = response.headers.get("Docker-Content-Digest", "")
        if digest:
            return digest
        return self.get_manifest(repo, reference).digest

    def get_manifest(self, repo: str, reference: str) -> Manifest:
        """The manifest `reference` names, its bytes checked against its digest."""
        path = f"/v2/{_repo(repo)}/manifests/{_reference(reference)}"
        response = self._call("GET", path, _pull(repo), headers={"Accept": ACCEPT_MANIFESTS})
        body = response.content
        computed = sha256_digest(body)
        claimed = response.headers.get("Docker-Content-Digest", "")
        expected = reference if DIGEST.fullmatch(reference) else claimed
        if expected.startswith("sha256:") and expected != computed:
            raise self.http.bad_response(
                f"GET {path}", f"a manifest whose sha256 is {computed}, not {expected}", ""
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(media_type=media_type, digest=claimed or computed, body=body)

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        """`PUT` a manifest under a tag or digest; returns its digest."""
        path = f"/v2/{_repo(repo)}/manifests/{_reference(reference)}"
        response = self._call(
            "PUT",
            path,
            _push(repo),
            data=body,
            headers={"Content-Type": media_type},
            expect=(201,),
        )
        return response.headers.get("Docker-Content-Digest", "") or sha256_digest(body)

    def delete_manifest(self, repo: str, digest: str) -> None:
        """`DELETE` a manifest by digest (which removes every tag pointing at it)."""
        if not DIGEST.fullmatch(digest):
            raise HarnessError(f"{digest!r} is not a digest; manifests are deleted by digest")
        path = f"/v2/{_repo(repo)}/manifests/{digest}"
        self._call("DELETE", path, _push(repo) + ",delete", expect=(202,))

    def fetch_manifest(self, repo: str, digest: str) -> Fetched:
        """`GET /v2/<repo>/manifests/<digest>` as answered: 200 with its bytes, or 404.

        Any other status raises the client error that names it (`APIError.status`).
        """
        path = f"/v2/{_repo(repo)}/manifests/{_digest(digest)}"
        response = self._call(
            "GET", path, _pull(repo), headers={"Accept": ACCEPT_MANIFESTS}, expect=(200, 404)
        )
        if response.status_code != 200:
            return Fetched(response.status_code)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Fetched(200, media_type, response.content)

    def blob_status(self, repo: str, digest: str) -> int:
        """The status `HEAD /v2/<repo>/blobs/<digest>` answers: 200 present, 404 unknown.

        Any other status raises the client error that names it.
        """
        path = f"/v2/{_repo(repo)}/blobs/{_digest(digest)}"
        return self._call("HEAD", path, _pull(repo), expect=(200, 404)).status_code

    def blob_exists(self, repo: str, digest: str) -> bool:
        """Whether the registry holds the blob `digest` for `repo` (`HEAD`, 200 or 404)."""
        path = f"/v2/{_repo(repo)}/blobs/{_digest(digest)}"
        response = self._call("HEAD", path, _pull(repo), expect=(200, 404))
        return response.status_code == 200

    def get_blob(self, repo: str, digest: str, *, max_bytes: int = MAX_BLOB_BYTES) -> bytes:
        """The blob `digest`, read up to `max_bytes` and checked against its sha256."""
        path = f"/v2/{_repo(repo)}/blobs/{_digest(digest)}"
        response = self._call("GET", path, _pull(repo), stream=True)
        with response:
            chunks = []
            size = 0
            for chunk in response.iter_content(chunk_size=1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise HarnessError(
                        f"blob {digest} of {repo} is larger than {max_bytes} bytes; "
                        "raise max_bytes to read it"
                    )
                chunks.append(chunk)
        data = b"".join(chunks)
        if digest.startswith("sha256:") and sha256_digest(data) != digest:
            raise self.http.bad_response(
                f"GET {path}", f"a blob whose sha256 is {sha256_digest(data)}", ""
            )
        return data

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload `data` as a blob of `repo` (monolithic `POST` then `PUT ?digest=`); its digest.

        Nothing is uploaded when the registry already holds the blob.
        """
        digest = sha256_digest(data)
        if self.blob_exists(repo, digest):
            return digest
        response = self._call(
            "POST", f"/v2/{_repo(repo)}/blobs/uploads/", _push(repo), expect=(202,)
        )
        location = response.headers.get("Location", "")
        if not location:
            raise self.http.bad_response(
                f"POST /v2/{repo}/blobs/uploads/", "202 without a Location header", ""
            )
        separator = "&" if "?" in location else "?"
        self._call(
            "PUT",
            f"{location}{separator}digest={digest}",
            _push(repo),
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            expect=(201,),
            idempotent=False,
        )
        return digest

    def _pages(
        self, path: str, scope_key: str, page_size: int, max_pages: int
    ) -> Iterator[JsonReader]:
        url: str | None = path
        params: dict[str, int] | None = {"n": page_size}
        seen: set[str] = set()
        for _ in range(max_pages):
            assert url is not None
            response = self._call("GET", url, scope_key, params=params)
            yield self.http.json(response)
            link = response.links.get("next", {}).get("url")
            if not link:
                return
            if link in seen:
                raise self.http.bad_response(
                    f"GET {path}", f"the same next page twice ({link})", ""
                )
            seen.add(link)
            url, params = link, None
        raise HarnessError(
            f"registry listing {path} did not end within {max_pages} pages of {page_size}"
        )


def _strings(reader: JsonReader, key: str) -> list[str]:
    values = reader.get(key, list, default=[])
    if not all(isinstance(value, str) for value in values):
        raise reader.fail(f"{key!r} holding something other than names")
    return list(values)


def _repo(repo: str) -> str:
    if not REPOSITORY_NAME.fullmatch(repo):
        raise HarnessError(f"{repo!r} is not a repository name; use NAMESPACE/REPO in lower case")
    return repo


def _reference(reference: str) -> str:
    if not (TAG.fullmatch(reference) or DIGEST.fullmatch(reference)):
        raise HarnessError(f"{reference!r} is neither a tag nor a digest")
    return reference


def _digest(digest: str) -> str:
    if not DIGEST.fullmatch(digest):
        raise HarnessError(f"{digest!r} is not a digest (ALGORITHM:HEX)")
    return digest


def _pull(repo: str) -> str:
    return f"repository:{repo}:pull"


def _push(repo: str) -> str:
    return f"repository:{repo}:pull,push"
