"""Preflight: the target answers over verified TLS with a certificate that stays valid, the
credentials from the environment are accepted with admin rights, and every replica has an
address this machine can reach it at."""

from __future__ import annotations

import pytest

from upgrade.clients.http import DTR
from upgrade.clients.tls import peer_certificate
from upgrade.cluster.access import AdminAccess, admin_access
from upgrade.cluster.target import Target
from upgrade.config.settings import Settings
from upgrade.evidence.records import CheckRecord, utc_now

pytestmark = pytest.mark.preflight


@pytest.mark.check("PRE-TARGET-TLS")
def test_target_certificate(target: Target, settings: Settings, evidence: CheckRecord) -> None:
    """DTR's load-balanced address completes a verified TLS handshake and its certificate stays
    valid for at least --min-cert-days more days (an expired certificate stops every pull)."""
    cert = peer_certificate(target.dtr_url, target.dtr_verify, DTR)
    days = cert.days_left(utc_now())
    evidence.attach("certificate", cert)
    evidence.attach("days_left", round(days, 1))
    if not cert.verified:
        evidence.note("TLS verification is off (--insecure-tls): the certificate was not verified")
    assert days >= settings.min_cert_days, (
        f"DTR's certificate ({cert.subject}) expires {cert.not_after.isoformat()}, in "
        f"{days:.1f} days (< {settings.min_cert_days}); renew it before the change"
    )


def _assert_admin(access: AdminAccess) -> None:
    """Fail unless DTR answered the admin-only request with 200."""
    __tracebackhide__ = True
    assert access.accepted, f"{access.endpoint} answered {access.status}: {access.problem}"


@pytest.mark.check("PRE-CREDENTIALS")
def test_credentials_accepted(target: Target, evidence: CheckRecord) -> None:
    """The DTR credentials from the environment are accepted and have admin rights: DTR's
    admin-only settings endpoint answers 200 (cluster status and settings are admin-only, and
    the upgrade needs them)."""
    access = admin_access(target.dtr())
    evidence.attach("account", target.dtr_credentials.describe())
    evidence.attach("access", access)
    _assert_admin(access)
    dtr_settings = target.dtr().settings()
    evidence.attach("dtrHost", dtr_settings.dtr_host)
    evidence.attach("replicas", list(dtr_settings.replica_ids))


@pytest.mark.check("PRE-REPLICA-ADDRESSES")
def test_replica_addresses_known(target: Target, evidence: CheckRecord) -> None:
    """Every replica DTR's replicaSettings list has an address this machine can use to reach it
    on its own: its --replica-url, else replicaSettings' node (a UCP node name) when it resolves
    here, else the address UCP's node list gives for that node (Status.Addr). The replica checks
    and the prober use these. A --replica-url naming no replica of this DTR fails here, with the
    real IDs."""
    found = target.replica_addresses()
    evidence.attach("replica_addresses", {rid: a.as_dict() for rid, a in sorted(found.items())})
    for address in found.values():
        if address.note:
            evidence.note(address.note)
    problems = target.address_problems()
    assert not problems, "; ".join(problems)
