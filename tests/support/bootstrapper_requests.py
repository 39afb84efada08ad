"""A bootstrapper request for unit tests: every field filled, any of them overridden."""

from __future__ import annotations

from typing import Any

from upgrade.procedure.bootstrapper import BootstrapperRequest

SECRET = "s3cr3t-ucp-passw0rd"
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def make_request(**overrides: Any) -> BootstrapperRequest:
    """A 2.6.4 upgrade request against ucp.example.com with a CA; `overrides` replace fields."""
    values: dict[str, Any] = {
        "image": "docker/dtr:2.6.4",
        "target_version": "2.6.4",
        "ucp_url": "https://ucp.example.com",
        "ucp_username": "admin",
        "ucp_password": SECRET,
        "existing_replica_id": "5eb9459a7832",
        "ucp_ca_pem": CA_PEM,
    }
    values.update(overrides)
    return BootstrapperRequest(**values)
