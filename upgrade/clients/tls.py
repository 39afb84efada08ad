"""The certificate a DTR or UCP address presents: who issued it and when it expires.

An expired certificate during or soon after a change window stops every `docker pull`, so the
preflight reads it directly from a TLS handshake, verified the same way the API clients verify.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from upgrade.clients.addresses import Verify
from upgrade.clients.errors import TargetUnreachable, TLSVerificationFailed
from upgrade.clients.http import Service


@dataclass(frozen=True)
class CertificateInfo:
    """The parts of a server certificate an operator needs to judge it."""

    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    names: tuple[str, ...]
    verified: bool

    def days_left(self, now: datetime) -> float:
        """Days until the certificate expires (negative once expired)."""
        return (self.not_after - now).total_seconds() / 86400


def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common[0].value) if common else name.rfc4514_string()


def peer_certificate(
    url: str, verify: Verify, service: Service, timeout: float = 5.0
) -> CertificateInfo:
    """Handshake with the host of `url` and return its certificate, verified as `verify` says."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 443
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        cafile = verify if isinstance(verify, str) else None
        context = ssl.create_default_context(cafile=cafile)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        raise TLSVerificationFailed(
            service.name, url, exc.verify_message or str(exc), service.ca_option
        ) from None
    except TimeoutError:
        raise TargetUnreachable(
            service.name,
            host,
            port,
            "the connection timed out",
            f"check {service.url_option} and the network path",
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise TargetUnreachable(
            service.name,
            host,
            port,
            reason,
            f"check {service.url_option} and that the service runs",
        ) from None
    if der is None:
        raise TLSVerificationFailed(
            service.name, url, "no certificate was presented", service.ca_option
        )
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(n) for n in san.get_values_for_type(x509.DNSName)) + tuple(
            str(ip) for ip in san.get_values_for_type(x509.IPAddress)
        )
    except x509.ExtensionNotFound:
        names = ()
    return CertificateInfo(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        not_before=cert.not_valid_before_utc.astimezone(UTC),
        not_after=cert.not_valid_after_utc.astimezone(UTC),
        names=names,
        verified=verify is not False,
    )
