"""Certificates made in the test: a CA (PyPI ``trustme``), a server's and a client's, as files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key


@dataclass(frozen=True)
class TlsMaterial:
    ca: trustme.CA
    ca_file: Path
    server: trustme.LeafCert
    client_cert: Path
    client_key: Path
    encrypted_client_key: Path
    key_password: str
    other_ca_file: Path
    """A CA that signed nothing here: trusting it alone must fail the handshake."""


def make_tls_material(directory: Path, password: str = "key-Pa55") -> TlsMaterial:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("leadsync-client@example.com")
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client_cert = directory / "client.pem"
    client.cert_chain_pems[0].write_to_path(str(client_cert))
    client_key = directory / "client.key"
    client.private_key_pem.write_to_path(str(client_key))
    key = load_pem_private_key(client.private_key_pem.bytes(), password=None)
    encrypted = directory / "client-encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        )
    )
    other_ca_file = directory / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca_file))
    return TlsMaterial(
        ca, ca_file, server, client_cert, client_key, encrypted, password, other_ca_file
    )
