"""The data-plane proof: what a manifest references (the registry spec's own shapes), the seeded
sample, coverage arithmetic, the before/after comparison and a proof run against a registry."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from tests.support.servers import FakeServer, Reply, Seen
from upgrade.clients.registry import RegistryClient, sha256_digest
from upgrade.clients.retry import RetryPolicy
from upgrade.clients.secrets import DTRCredentials, Redactor
from upgrade.cluster.dataproof import (
    Coverage,
    Failure,
    ManifestRef,
    ProofResult,
    choose,
    chosen_manifests,
    compare,
    covered_tags,
    manifests_of,
    references,
    schema1_payload,
)
from upgrade.cluster.dataproof_run import prove
from upgrade.config.proof_mode import ProofMode, parse_proof_mode, parse_seed
from upgrade.config.values import SettingsError

SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "sha256:" + "b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"
LAYER_1 = "sha256:" + "e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"
LAYER_2 = "sha256:" + "3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b"
FOREIGN = "sha256:" + "ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736"


def schema2(config: str = CONFIG, layers: tuple[str, ...] = (LAYER_1, LAYER_2)) -> bytes:
    """An image manifest as docs/spec/manifest-v2-2.md's example has it."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": SCHEMA2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 7023,
                "digest": config,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 32654,
                    "digest": layer,
                }
                for layer in layers
            ],
        },
        indent=3,
    ).encode()


def manifest_list(*children: str) -> bytes:
    """A manifest list as docs/spec/manifest-v2-2.md's example has it."""
    platforms = [
        {"architecture": "ppc64le", "os": "linux"},
        {"architecture": "amd64", "os": "linux"},
    ]
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": LIST,
            "manifests": [
                {"mediaType": SCHEMA2, "size": 7143, "digest": child, "platform": platform}
                for child, platform in zip(children, platforms, strict=False)
            ],
        }
    ).encode()


# -- what a manifest references --------------------------------------------------------------


def test_an_image_manifest_references_its_config_and_layers() -> None:
    refs = references(SCHEMA2, schema2())
    assert refs.blobs == (CONFIG, LAYER_1, LAYER_2)
    assert refs.children == ()
    assert not refs.problem


def test_a_manifest_list_references_its_platform_manifests() -> None:
    refs = references(LIST, manifest_list(LAYER_1, LAYER_2))
    assert refs.children == (LAYER_1, LAYER_2)
    assert refs.blobs == ()


def test_the_declared_media_type_decides_without_a_content_type() -> None:
    assert references("application/octet-stream", manifest_list(LAYER_1)).children == (LAYER_1,)
    oci = json.loads(schema2())
    oci["mediaType"] = OCI
    assert references("", json.dumps(oci).encode()).blobs == (CONFIG, LAYER_1, LAYER_2)


def test_foreign_layers_are_not_asked_of_the_registry() -> None:
    document = json.loads(schema2(layers=(LAYER_1,)))
    document["layers"].append(
        {
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "size": 1,
            "digest": FOREIGN,
            "urls": ["https://mcr.microsoft.com/v2/windows/blobs/" + FOREIGN],
        }
    )
    assert references(SCHEMA2, json.dumps(document).encode()).blobs == (CONFIG, LAYER_1)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "it is not JSON"),
        (b"[]", "it is not a JSON object"),
        (json.dumps({"schemaVersion": 3, "layers": []}).encode(), "it is not schemaVersion 2"),
        (json.dumps({"schemaVersion": 1, "fsLayers": [{}]}).encode(), "no blobSum"),
        (json.dumps({"schemaVersion": 2, "mediaType": SCHEMA2}).encode(), "no config digest"),
    ],
)
def test_an_unreadable_manifest_says_why(body: bytes, problem: str) -> None:
    assert problem in references(SCHEMA2, body).problem


# -- the sample ------------------------------------------------------------------------------


def inventory(repos: int, tags: int) -> dict[str, dict[str, str]]:
    return {
        f"ns/r{r:04d}": {f"t{t}": sha256_digest(f"{r}-{t}".encode()) for t in range(tags)}
        for r in range(repos)
    }


def test_manifests_are_distinct_per_repository_with_their_tags() -> None:
    digest = sha256_digest(b"x")
    refs = manifests_of({"b/y": {"1": digest}, "a/x": {"latest": digest, "1": digest}})
    assert refs == [ManifestRef("a/x", digest, ("1", "latest")), ManifestRef("b/y", digest, ("1",))]


def test_the_same_seed_draws_the_same_sample_and_another_seed_another() -> None:
    refs = manifests_of(inventory(50, 10))
    mode = ProofMode("sample", 25)
    first = choose(refs, mode, 1234)
    assert first == choose(refs, mode, 1234)
    assert first == choose(manifests_of(inventory(50, 10)), mode, 1234), "rebuilt inventory"
    assert first != choose(refs, mode, 1235)
    assert len(first) == 25 == len(set(first))
    assert first == sorted(first, key=refs.index), "in inventory order"


@pytest.mark.parametrize(
    "mode", [ProofMode("sample", 1), ProofMode("sample", 37), ProofMode("full")]
)
def test_the_large_registry_draw_is_the_same_draw(mode: ProofMode) -> None:
    inv = inventory(40, 6)
    inv["ns/r0001"]["alias"] = inv["ns/r0001"]["t0"]  # two tags on one manifest
    for seed in (0, 5, 2**40):
        total, chosen = chosen_manifests(inv, mode, seed)
        assert total == len(manifests_of(inv)) == 240
        assert chosen == choose(manifests_of(inv), mode, seed)


def test_full_off_and_a_sample_larger_than_the_registry() -> None:
    refs = manifests_of(inventory(3, 2))
    assert choose(refs, ProofMode("full"), 1) == refs
    assert choose(refs, ProofMode("off"), 1) == []
    assert choose(refs, ProofMode("sample", 1000), 1) == refs


def test_covered_tags_are_the_tags_of_the_chosen_manifests() -> None:
    inv = inventory(20, 5)
    chosen = choose(manifests_of(inv), ProofMode("sample", 7), 99)
    covered = covered_tags(inv, ProofMode("sample", 7), 99)
    assert covered == {(ref.repository, tag) for ref in chosen for tag in ref.tags}
    assert len(covered) == 7


# -- coverage and comparison -----------------------------------------------------------------


def test_coverage_arithmetic() -> None:
    total = Coverage(manifests_total=1000, tags_total=1500)
    total.add(Coverage(manifests_checked=3, tags_checked=4, blobs_checked=9, requests=12))
    total.add(Coverage(manifests_checked=1, tags_checked=2, platform_manifests_checked=2))
    shown = total.as_dict()
    assert shown["manifests"] == "4 of 1000"
    assert shown["manifests_percent"] == 0.4
    assert shown["tags"] == "6 of 1500"
    assert shown["tags_percent"] == 0.4
    assert shown["blobs_checked"] == 9
    assert shown["platform_manifests_checked"] == 2
    assert shown["requests"] == 12
    assert Coverage.percent(0, 0) == 100.0
    assert Coverage.percent(1, 3) == 33.3


def failure(kind: str, repo: str, tag: str, digest: str, status: int = 404) -> Failure:
    return Failure(kind, repo, tag, digest, status, "gone")


def test_post_failures_sort_into_new_before_unproven_and_gone() -> None:
    before = [failure("blob", "a/x", "1", LAYER_1), failure("manifest", "a/y", "2", CONFIG)]
    after = [
        failure("blob", "a/x", "latest", LAYER_1),  # the same blob, met under another tag
        failure("blob", "a/z", "1", LAYER_2),  # proven good before
        failure("manifest", "b/q", "9", CONFIG, 200),  # not checked before
    ]
    covered = {("a/x", "1"), ("a/x", "latest"), ("a/z", "1"), ("a/y", "2")}
    result = compare(before, after, covered)
    assert [f.repository for f in result.before] == ["a/x"]
    assert [f.repository for f in result.new] == ["a/z"]
    assert [f.repository for f in result.unproven] == ["b/q"]
    assert [f.repository for f in result.gone] == ["a/y"]
    nothing_before = compare(None, after)
    assert nothing_before.unproven == tuple(after)
    assert not nothing_before.new


def test_a_proof_reads_back_as_written() -> None:
    proof = ProofResult("sample:10", 42, Coverage(), [failure("blob", "a/x", "1", LAYER_1)])
    again = ProofResult.from_dict(json.loads(json.dumps(proof.as_dict())))
    assert (again.mode, again.seed, again.failures) == ("sample:10", 42, proof.failures)


# -- the option ------------------------------------------------------------------------------


def test_the_option_values() -> None:
    assert parse_proof_mode(None) == ProofMode("sample", 1000)
    assert parse_proof_mode("full") == ProofMode("full")
    assert parse_proof_mode("OFF") == ProofMode("off")
    assert parse_proof_mode("sample:5") == ProofMode("sample", 5)
    assert str(parse_proof_mode("sample:5")) == "sample:5"
    for bad in ("sample:0", "sample", "some", "sample:-1"):
        with pytest.raises(SettingsError, match="expected full, sample:N"):
            parse_proof_mode(bad)
    assert parse_seed("17") == 17
    assert parse_seed(None) is None
    with pytest.raises(SettingsError, match="--data-proof-seed"):
        parse_seed("x1")


# -- a proof against a registry --------------------------------------------------------------


@pytest.fixture
def registry(
    server: FakeServer, ca_path: str, dtr_credentials: DTRCredentials, retry: RetryPolicy
) -> Iterator[RegistryClient]:
    with RegistryClient(server.url, dtr_credentials, verify=ca_path, retry=retry) as client:
        yield client


def serve_manifest(server: FakeServer, repo: str, body: bytes, media_type: str) -> str:
    digest = sha256_digest(body)
    headers = {"Content-Type": media_type, "Docker-Content-Digest": digest}
    server.route("GET", f"/v2/{repo}/manifests/{digest}", Reply(200, body, headers))
    return digest


def serve_blobs(server: FakeServer, repo: str, present: dict[str, bool]) -> None:
    for digest, there in present.items():
        reply = Reply(200) if there else Reply(404, {"errors": [{"code": "BLOB_UNKNOWN"}]})
        server.route("HEAD", f"/v2/{repo}/blobs/{digest}", reply)


def test_a_proof_follows_lists_asks_each_blob_once_and_names_every_failure(
    server: FakeServer, registry: RegistryClient
) -> None:
    amd64 = serve_manifest(server, "ns/app", schema2(), SCHEMA2)
    ppc = serve_manifest(server, "ns/app", schema2(layers=(LAYER_1,)), SCHEMA2)
    listed = serve_manifest(server, "ns/app", manifest_list(ppc, amd64), LIST)
    serve_blobs(server, "ns/app", {CONFIG: True, LAYER_1: True, LAYER_2: False})
    corrupt_digest = sha256_digest(b"what DTR recorded")
    server.route(
        "GET",
        f"/v2/ns/bad/manifests/{corrupt_digest}",
        Reply(200, schema2(), {"Content-Type": SCHEMA2, "Docker-Content-Digest": corrupt_digest}),
    )
    gone = sha256_digest(b"deleted")
    inv = {
        "ns/app": {"latest": listed, "amd64": amd64},
        "ns/bad": {"1.0": corrupt_digest},
        "ns/gone": {"old": gone},
    }
    result = prove(registry, inv, ProofMode("full"), 7, workers=3)
    coverage = result.coverage.as_dict()
    assert coverage["manifests"] == "4 of 4"
    assert coverage["tags"] == "4 of 4"
    assert coverage["platform_manifests_checked"] == 2
    assert coverage["blobs_checked"] == 3, "CONFIG and LAYER_1 are shared: asked once"
    for digest in (CONFIG, LAYER_1, LAYER_2):
        assert len(server.seen("HEAD", f"/v2/ns/app/blobs/{digest}")) == 1
    assert len(server.seen("GET", f"/v2/ns/app/manifests/{amd64}")) == 1
    found = {(f.kind, f.repository, f.digest, f.status) for f in result.failures}
    assert found == {
        ("blob", "ns/app", LAYER_2, 404),
        ("manifest", "ns/bad", corrupt_digest, 200),
        ("manifest", "ns/gone", gone, 404),
    }
    (mismatch,) = [f for f in result.failures if f.repository == "ns/bad"]
    assert mismatch.tag == "1.0"
    assert f"hash to {sha256_digest(schema2())}" in mismatch.problem
    assert result.as_dict()["seed"] == 7


def test_a_sampled_proof_checks_only_its_sample(
    server: FakeServer, registry: RegistryClient
) -> None:
    inv = {}
    for r in range(10):
        repo = f"ns/r{r}"
        body = schema2(config=sha256_digest(repo.encode()), layers=(LAYER_1,))
        inv[repo] = {"v1": serve_manifest(server, repo, body, SCHEMA2)}
        serve_blobs(server, repo, {sha256_digest(repo.encode()): True, LAYER_1: True})
    told: list[str] = []
    result = prove(registry, inv, ProofMode("sample", 4), 3, progress=told.append)
    assert result.coverage.as_dict()["manifests"] == "4 of 10"
    assert result.coverage.blobs_checked == 8
    assert not result.failures
    fetched = {s.path.split("/")[3] for s in server.requests if "/manifests/" in s.path}
    expected = {
        ref.repository.split("/")[1] for ref in choose(manifests_of(inv), ProofMode("sample", 4), 3)
    }
    assert fetched == expected


# -- schema 1 (docs/spec/manifest-v2-1.md) ----------------------------------------------------


def signed_schema1() -> tuple[bytes, str]:
    """A signed schema 1 manifest as libtrust writes it, and its digest (over the payload)."""
    payload = json.dumps(
        {"schemaVersion": 1, "name": "ns/old", "tag": "6", "fsLayers": [{"blobSum": LAYER_1}]},
        indent=3,
    ).encode()
    length = len(payload) - 2  # the payload ends "\n}"
    b64 = lambda data: base64.urlsafe_b64encode(data).decode().rstrip("=")  # noqa: E731
    protected = b64(
        json.dumps({"formatLength": length, "formatTail": b64(payload[length:])}).encode()
    )
    signature = {"header": {"alg": "ES256"}, "signature": "c2ln", "protected": protected}
    signed = payload[:length] + b',\n   "signatures": ' + json.dumps([signature]).encode() + b"\n}"
    return signed, sha256_digest(payload)


def test_a_schema1_manifest_references_its_fs_layers() -> None:
    signed, _ = signed_schema1()
    refs = references("application/vnd.docker.distribution.manifest.v1+prettyjws", signed)
    assert refs.blobs == (LAYER_1,)
    assert not refs.problem


def test_a_signed_schema1_manifest_is_proven_against_its_payload(
    server: FakeServer, registry: RegistryClient
) -> None:
    signed, digest = signed_schema1()
    assert schema1_payload(signed) is not None
    assert sha256_digest(schema1_payload(signed) or b"") == digest
    assert sha256_digest(signed) != digest
    v1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    server.route("GET", f"/v2/ns/old/manifests/{digest}", Reply(200, signed, {"Content-Type": v1}))
    serve_blobs(server, "ns/old", {LAYER_1: True})
    result = prove(registry, {"ns/old": {"6": digest}}, ProofMode("full"), 1)
    assert result.failures == []
    assert result.coverage.blobs_checked == 1


# -- tokens: one per repository, fetched ahead once the realm is known ------------------------


def test_a_new_repository_gets_its_token_ahead_without_a_401(
    server: FakeServer, registry: RegistryClient
) -> None:
    def token(seen: Seen) -> Reply:
        return Reply(
            200, {"token": "tok-" + "-".join(seen.query.get("scope", [])).replace("/", "_")}
        )

    server.route("GET", "/auth/token", token)
    unauthenticated: list[str] = []
    for repo in ("ns/a", "ns/b", "ns/c"):
        body = schema2(layers=())
        digest = sha256_digest(body)

        def answer(seen: Seen, repo: str = repo, body: bytes = body) -> Reply:
            scope = f"repository:{repo}:pull"
            if seen.headers.get("authorization") != "Bearer tok-" + scope.replace("/", "_"):
                unauthenticated.append(repo)
                challenge = f'Bearer realm="{server.url}/auth/token",service="dtr",scope="{scope}"'
                return Reply(
                    401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge}
                )
            return Reply(200, body, {"Content-Type": SCHEMA2})

        server.route("GET", f"/v2/{repo}/manifests/{digest}", answer)
        assert registry.fetch_manifest(repo, digest).status == 200
    assert unauthenticated == ["ns/a"], "only the first repository meets a challenge"
    scopes = [s.query["scope"] for s in server.seen("GET", "/auth/token")]
    assert scopes == [[f"repository:{r}:pull"] for r in ("ns/a", "ns/b", "ns/c")]
    assert {s.query["service"][0] for s in server.seen("GET", "/auth/token")} == {"dtr"}


def test_per_repository_tokens_are_masked_without_a_pattern_each() -> None:
    redactor = Redactor()
    tokens = [f"tok{i:05d}-" + "a" * 30 for i in range(20_000)]
    for token in tokens:
        redactor.add_token(token)
    last = tokens[-1]
    text = f'Bearer {last} and "token":"{tokens[7]}", said {tokens[3]}. x={tokens[9]}'
    assert redactor.redact(text) == 'Bearer **** and "token":"****", said ****. x=****'
    assert redactor.redact("tok00001-aaaa is not one") == "tok00001-aaaa is not one"
    redactor.add("short secret")
    assert redactor.redact(f"short secret {last}") == "**** ****"
