"""Real X.509 certificates for the mesh tests, made with `cryptography`: a CA, certificates it
signs (serverAuth and clientAuth, the names a client dials in subjectAltName), a second CA that
signs nothing the mesh trusts, and a self-signed certificate."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Authority", "Pair", "Pki", "make_pki", "self_signed"]

_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Pair:
    """A certificate and its key, written as PEM files."""

    cert: Path
    key: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()

    @property
    def key_pem(self) -> bytes:
        return self.key.read_bytes()


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pair:
    pair = Pair(folder / f"{stem}.crt", folder / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pair


class Authority:
    """A certificate authority whose certificate and key are PEM files in `folder`."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY)
            .not_valid_after(now + 30 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pair = _write(folder, name, self.cert, self.key)

    @property
    def ca(self) -> Path:
        return self.pair.cert

    def issue(self, stem: str, names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> Pair:
        """A leaf certificate for `names` (DNS names and IP addresses), usable by servers and clients."""
        key = ec.generate_private_key(ec.SECP256R1())
        return _write(self.folder, stem, _leaf(stem, names, key, self.cert.subject, self.key), key)


def _leaf(
    stem: str,
    names: tuple[str, ...],
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    return (
        x509.CertificateBuilder()
        .subject_name(_name(stem))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + 30 * _DAY)
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(signer, hashes.SHA256())
    )


def self_signed(folder: Path, stem: str) -> Pair:
    """A leaf certificate signed by its own key: no CA vouches for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _write(folder, stem, _leaf(stem, ("localhost", "127.0.0.1"), key, _name(stem), key), key)


@dataclass(frozen=True)
class Pki:
    ca: Path  # the mesh's CA certificate
    server: Pair  # signed by it, for 127.0.0.1 and localhost
    client: Pair  # signed by it
    other_ca: Path  # another CA
    stranger: Pair  # signed by the other CA
    self_signed: Pair  # a self-signed certificate


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    mesh = Authority(folder, "mesh-ca")
    other = Authority(folder, "other-ca")
    return Pki(
        ca=mesh.ca,
        server=mesh.issue("resolver"),
        client=mesh.issue("router"),
        other_ca=other.ca,
        stranger=other.issue("stranger"),
        self_signed=self_signed(folder, "self-signed"),
    )
