"""Whole harness sessions against a DTR whose API answers are generated from the real 2.6/2.7
contract (../shared/dtr-api/, tests/support/contract.py): however odd the answers, every session
ends with a verdict line and a sealed bundle, no raw library message reaches the terminal or a
check's message, and every failing check says what is wrong in the harness's words.

For each seed, a loopback HTTPS server answers the DTR API endpoints the harness parses with
answers drawn from the contract's schemas (or, per endpoint, passes the lab's own answer through,
so the odd answer meets checks that got past the others), and passes every other request (auth,
`/_ping`, `/v2/`, job submission) to a lab. UCP is the lab's, named by `--ucp-url` for some seeds
and found through the generated `features.ucpHost` for the others. Sessions are read-only
(preflight with `--to-version` and no `--apply`, or health), run a few at a time.
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from dtrlab import Lab, LabConfig
from tests.lab.conftest import FAST
from tests.lab.sessions import ROOT, SESSION_TIMEOUT_S, Session, session_argv
from tests.support.contract import VERSIONS, docs_strategy, root_strategy
from tests.support.servers import FakeServer, Reply, Seen

SEEDS = tuple(range(1, 21))
TO_VERSION = "2.7.8"
PARALLEL = 4
RAW = (
    "ValueError",
    "KeyError",
    "TypeError",
    "AttributeError",
    "LocationParseError",
    "Expecting value",
    "could not be cast",
    "Traceback",
    "INTERNALERROR",
    "got empty parameter set",
)
# The endpoints the harness parses, by the contract's root name (tests/data/dtr-contract.json),
# and the paths they answer.
ROUTES = {
    "features": re.compile(r"/api/v0/meta/features"),
    "settings": re.compile(r"/api/v0/meta/settings"),
    "cluster_status": re.compile(r"/api/v0/meta/cluster_status"),
    "repositories": re.compile(r"/api/v0/repositories/?"),
    "tags": re.compile(r"/api/v0/repositories/[^/]+/[^/]+/tags"),
    "jobs": re.compile(r"/api/v0/jobs/?"),
    "job": re.compile(r"/api/v0/jobs/[^/]+"),
    "docs": re.compile(r"/api/v0/docs\.json"),
}
# An unreachable address whose fix is the --target option (only right for the target itself).
UNREACHABLE = re.compile(r"cannot reach DTR at (?P<where>\S+): .* given with --target")
# Headers of the lab's answers that the harness reads (auth challenges, paging, digests).
PASSED_HEADERS = (
    "content-type",
    "www-authenticate",
    "location",
    "link",
    "docker-content-digest",
    "docker-distribution-api-version",
    "x-next-page-start",
    "x-resource-count",
)


def answers_strategy(version: str) -> st.SearchStrategy[dict[str, Any]]:
    """One answer per endpoint: drawn from the contract, or None (the lab's answer)."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        root: st.none() | root_strategy(version, root) for root in ROUTES if root != "docs"
    }
    fields["docs"] = st.none() | docs_strategy(version)
    return st.fixed_dictionaries(fields)


def answers_for(number: int) -> dict[str, Any]:
    """The answers of seed `number`: deterministic (a seeded Hypothesis run without a
    database; its first example is the minimal one, so the fourth is kept)."""
    drawn: list[dict[str, Any]] = []
    version = VERSIONS[number % len(VERSIONS)]

    @seed(number)
    @settings(
        max_examples=4,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(answers_strategy(version))
    def collect(answers: dict[str, Any]) -> None:
        drawn.append(answers)

    collect()
    return drawn[-1]


class ContractDTR(FakeServer):
    """Generated answers for the parsed endpoints, the lab's answer for everything else."""

    def __init__(self, context: ssl.SSLContext, lab: Lab, answers: dict[str, Any]) -> None:
        super().__init__(context)
        self.lab = lab
        self.answers = answers
        self.upstream = requests.Session()
        self.upstream.trust_env = False
        self.upstream.verify = str(lab.ca_path)

    def answer(self, seen: Seen) -> Reply:
        if seen.method == "GET":
            for root, pattern in ROUTES.items():
                if pattern.fullmatch(seen.path) and self.answers[root] is not None:
                    return Reply(200, self.answers[root])
        return self._pass(seen)

    def _pass(self, seen: Seen) -> Reply:
        headers = {k: v for k, v in seen.headers.items() if k not in ("host", "content-length")}
        params = [(k, v) for k, values in seen.query.items() for v in values]
        try:
            response = self.upstream.request(
                seen.method,
                self.lab.url + seen.path,
                params=params,
                headers=headers,
                data=seen.body or None,
                allow_redirects=False,
                timeout=30,
            )
        except requests.RequestException:
            return Reply(502, {"errors": [{"code": "UNAVAILABLE", "message": "lab unreachable"}]})
        kept = {k: v for k, v in response.headers.items() if k.lower() in PASSED_HEADERS}
        return Reply(response.status_code, response.content, kept)


@dataclass(frozen=True)
class SeedRun:
    """One seed's session, its answers and its bundle's verification."""

    number: int
    answers: dict[str, Any]
    argv: list[str]
    secret: str
    session: Session | None
    output: str
    verify: subprocess.CompletedProcess[str] | None


def seed_args(number: int, lab: Lab) -> list[str]:
    """A third of the seeds run a health session, the rest a preflight; odd seeds name UCP,
    even ones leave it to `features.ucpHost`."""
    args = [f"--ucp-ca={lab.ca_path}"]
    if number % 2 == 1:
        args.append(f"--ucp-url={lab.ucp_url}")
    if number % 3 != 0:
        args.append(f"--to-version={TO_VERSION}")
    return args


def run_seed(
    number: int, lab: Lab, context: ssl.SSLContext, ca_bundle: Path, base: Path
) -> SeedRun:
    answers = answers_for(number)
    server = ContractDTR(context, lab, answers)
    reports = base / f"seed-{number}"
    creds = lab.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DTR_", "UCP_", "DOCKER_"))}
    env.update(
        DTR_USERNAME=creds.username,
        DTR_PASSWORD=creds.password,
        UCP_USERNAME=creds.ucp_username,
        UCP_PASSWORD=creds.ucp_password,
        DOCKER_HOST=f"unix://{base}/no-engine.sock",
    )
    argv = session_argv(
        reports,
        *seed_args(number, lab),
        f"--dtr-ca={ca_bundle}",
        target=server.url.removeprefix("https://"),
    )
    try:
        proc = subprocess.run(
            argv,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=SESSION_TIMEOUT_S,
            check=False,
        )
    finally:
        server.close()
    output = proc.stdout + proc.stderr
    latest = reports / "latest"
    if not (latest / "result.json").is_file():
        return SeedRun(number, answers, argv, creds.password, None, output, None)
    session = Session(proc.returncode, output, latest.resolve())
    verify = subprocess.run(
        [sys.executable, "-m", "upgrade.cli", "verify-bundle", str(session.bundle)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return SeedRun(number, answers, argv, creds.password, session, output, verify)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, SeedRun]]:
    """Every seed's session, run `PARALLEL` at a time against one lab."""
    base = tmp_path_factory.mktemp("contract-sessions")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with Lab(LabConfig(**FAST)).start() as lab:
        # The generated DTR's certificate and the lab's (token realm, redirects) are both trusted.
        ca_bundle = base / "dtr-ca.pem"
        ca_bundle.write_text(ca.cert_pem.bytes().decode() + lab.ca_pem)
        with ThreadPoolExecutor(PARALLEL) as pool:
            done = pool.map(lambda n: run_seed(n, lab, context, ca_bundle, base), SEEDS)
            yield {run.number: run for run in done}


def describe(run: SeedRun) -> str:
    return f"seed {run.number}, answers {run.answers!r}\n{run.output}"


@pytest.mark.parametrize("number", SEEDS)
def test_session_ends_with_a_verdict_and_a_sealed_bundle(
    runs: dict[int, SeedRun], number: int
) -> None:
    run = runs[number]
    assert run.session is not None, f"no result.json written: {describe(run)}"
    assert run.session.last_line.startswith("VERDICT: "), describe(run)
    assert run.session.result["verdict"] in run.session.last_line, describe(run)
    assert run.verify is not None
    assert run.verify.returncode == 0, f"{run.verify.stdout}{run.verify.stderr}\n{describe(run)}"


@pytest.mark.parametrize("number", SEEDS)
def test_no_raw_library_message(runs: dict[int, SeedRun], number: int) -> None:
    run = runs[number]
    assert run.secret not in run.output, f"the password leaked (seed {number})"
    raw = [word for word in RAW if word in run.output]
    assert not raw, f"{raw} in the terminal output: {describe(run)}"
    if run.session is None:
        return
    for check in run.session.result["checks"]:
        message = check.get("message") or ""
        raw = [word for word in RAW if word in message]
        assert not raw, f"{check['id']}: {message!r} (seed {number}, answers {run.answers!r})"


@pytest.mark.parametrize("number", SEEDS)
def test_failures_say_what_is_wrong(runs: dict[int, SeedRun], number: int) -> None:
    run = runs[number]
    if run.session is None:
        pytest.fail(f"no result.json written: {describe(run)}")
    target = run.session.result["target"]
    for check in run.session.result["checks"]:
        message = (check.get("message") or "").strip()
        where = f"{check['id']} (seed {number}, answers {run.answers!r})"
        assert "()" not in message, f"{where} names an empty list: {message!r}"
        unreachable = UNREACHABLE.search(message)
        if unreachable is not None:
            assert unreachable["where"] == target, f"{where} blames --target: {message!r}"
        if check["outcome"] not in ("failed", "error"):
            continue
        assert len(message) > 10, f"{where} failed without saying why: {message!r}"
        assert not message.startswith(("assert ", "AssertionError")), f"{where}: {message!r}"
