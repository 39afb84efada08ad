"""The lab's certificate authority: every listener presents a certificate it signed."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

IDENTITIES = ("127.0.0.1", "localhost")


class LabCertificates:
    """A trustme CA, its PEM file on disk (for clients), and server TLS contexts per listener."""

    def __init__(self, directory: Path) -> None:
        self._ca = trustme.CA(organization_name="DTR lab", organization_unit_name="lab CA")
        self.ca_pem: str = self._ca.cert_pem.bytes().decode("ascii")
        self.ca_path = directory / "lab-ca.pem"
        self.ca_path.write_text(self.ca_pem, encoding="ascii")

    def server_context(self, common_name: str) -> ssl.SSLContext:
        """A server-side TLS context with a fresh certificate for 127.0.0.1 and localhost."""
        cert = self._ca.issue_cert(*IDENTITIES, common_name=common_name)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        cert.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side TLS context that trusts only the lab CA."""
        return ssl.create_default_context(cadata=self.ca_pem)
