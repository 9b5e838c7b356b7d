"""A private CA and a server certificate for a first team server.

``netvault server up --listen HOST:PORT --tls-generate`` writes, in
``<data dir>/tls/``: ``ca.pem`` (give it to engineers: their ``VAULT_CACERT``
or ``cacert`` in the config), ``ca-key.pem`` (0600; keep it, or move it offline
once the server certificate exists), ``server.pem`` and ``server-key.pem``
(0600). The CA is reused on later starts; the server certificate is renewed
when its names change or it nears expiry. For production use the operator's
own certificate (``--tls-cert/--tls-key``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from netvault.local import config

CA_DAYS = 3650
SERVER_DAYS = 397


@dataclass
class TLSFiles:
    cert: str
    key: str
    ca: str | None = None  # the CA clients must trust (None: publicly trusted / operator's)
    generated: bool = False


def _names(sans: list[str]):
    from cryptography import x509

    out, seen = [], set()
    for name in sans:
        if not name or name in seen:
            continue
        seen.add(name)
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _key_bytes(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure(tls_dir: Path, sans: list[str], *, now: datetime | None = None) -> TLSFiles:
    """The CA (made once) and a server certificate for ``sans`` (renewed when
    the names differ or less than 30 days are left)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or datetime.now(timezone.utc)
    tls_dir = Path(tls_dir)
    ca_pem, ca_key_pem = tls_dir / "ca.pem", tls_dir / "ca-key.pem"
    cert_pem, key_pem = tls_dir / "server.pem", tls_dir / "server-key.pem"
    if ca_pem.exists() and ca_key_pem.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_pem.read_bytes(), password=None)
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netvault private CA")])
        ca_cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        config.write_private(ca_key_pem, _key_bytes(ca_key))
        config.write_private(ca_pem, ca_cert.public_bytes(serialization.Encoding.PEM))
        ca_pem.chmod(0o644)  # public: engineers' machines need it
    wanted = _names(sans)
    if cert_pem.exists() and key_pem.exists():
        cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
        try:
            have = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            have = []
        fresh = cert.not_valid_after_utc - now > timedelta(days=30)
        if fresh and sorted(map(repr, have)) == sorted(map(repr, wanted)) and cert.issuer == ca_cert.subject:
            return TLSFiles(str(cert_pem), str(key_pem), str(ca_pem), True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sans[0] if sans else "netvault")]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(wanted), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    config.write_private(key_pem, _key_bytes(key))
    config.write_private(cert_pem, cert.public_bytes(serialization.Encoding.PEM))
    return TLSFiles(str(cert_pem), str(key_pem), str(ca_pem), True)
