"""Short-lived registry tokens (`--lab-token-lifetime`): the harness renews them, and a 401
from an expired token is never counted as an outage.

Real tokens live `expires_in` seconds, 60 when absent (distribution PR #979,
fidelity-review.md 1), and a rolling upgrade takes minutes; the lab's default is 300 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from dtrlab import Lab
from tests.lab.conftest import session_for
from tests.lab.sessions import run_session
from upgrade.clients.registry import RegistryClient
from upgrade.clients.secrets import DTRCredentials

APPLY = ("--to-version=2.6.4", "--apply", "--upgrade-backoff=0.2s")
LIFETIME_S = 2


def test_lab_tokens_expire_after_the_lifetime(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(token_lifetime=1)
    with session_for(lab) as session:
        answer = session.get(lab.url + "/auth/token", timeout=10).json()
        assert answer["expires_in"] == 1
        session.auth = None
        bearer = {"Authorization": f"Bearer {answer['token']}"}
        assert session.get(lab.url + "/v2/", headers=bearer, timeout=10).status_code == 200
        time.sleep(1.2)
        assert session.get(lab.url + "/v2/", headers=bearer, timeout=10).status_code == 401
    credentials = DTRCredentials.of(lab.credentials.username, password=lab.credentials.password)
    with RegistryClient(lab.url, credentials, verify=str(lab.ca_path)) as registry:
        registry.ping()
        time.sleep(1.2)
        registry.ping()
        assert "Authorization" in registry.auth_headers()


def test_an_upgrade_outlasting_the_token_counts_no_outage(tmp_path: Path) -> None:
    run = run_session(tmp_path, *APPLY, f"--lab-token-lifetime={LIFETIME_S}")
    result = run.result
    assert result["verdict"] == "UPGRADED", run.output
    availability = result["availability"]
    registry = {n: d for n, d in availability["endpoints"].items() if "/v2/" in n}
    assert len(registry) == 2, availability["endpoints"].keys()
    for name, data in registry.items():
        sampled_s = data["samples"] * availability["interval_s"]
        assert sampled_s > LIFETIME_S + 1, f"{name}: the upgrade did not outlast the token"
        assert data["longest_outage_s"] == 0, (name, data["outages"])
    (downtime,) = run.checks("POST-DOWNTIME")
    assert downtime["outcome"] == "passed", downtime
