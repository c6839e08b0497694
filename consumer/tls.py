"""TLS client contexts from files, with every failure named by the variable to fix.

Kafka (``LEADSYNC_KAFKA_SSL_*``) and the PBX (``LEADSYNC_NOOJEE_CA_FILE``,
``..._CLIENT_CERT``, ``..._CLIENT_KEY``) build theirs here, and the start-up
validator builds both before anything connects: a file that is not PEM, a key
that does not belong to its certificate or a wrong key password stop start-up
(exit 2) instead of failing the first handshake.

A CA bundle replaces the system's trusted roots for that connection (as
``curl --cacert`` does); without one the system's are used.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from consumer.errors import SettingsError

_REASONS: Final = {
    "NO_CERTIFICATE_OR_CRL_FOUND": "holds no PEM certificate",
    "PEM_LIB": "is not a PEM certificate and key",
    "KEY_VALUES_MISMATCH": "is not the key of the certificate",
    "BAD_DECRYPT": "does not unlock the key",
    "BAD_PASSWORD_READ": "does not unlock the key",
    "BAD_BASE64_DECODE": "is not valid PEM (bad base64)",
    "NO_START_LINE": "is not PEM (no BEGIN line)",
}
_SOURCE_LOCATION: Final = re.compile(r"\s*\(_ssl\.c:\d+\)$")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The files of one TLS client and the variables that name them (for messages)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_password: str | None = None
    ca_variable: str = ""
    cert_variable: str = ""
    key_variable: str = ""
    password_variable: str = ""


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """A verifying client context (hostname checked); ``SettingsError`` names a bad file."""
    cafile = str(files.ca_file) if files.ca_file is not None else None
    try:
        # Verifies the server's certificate and host name; the CA file, when
        # given, is the only trusted root.
        context = ssl.create_default_context(cafile=cafile)
    except (ssl.SSLError, OSError, ValueError) as exc:
        where = f"{files.ca_file} " if files.ca_file is not None else "the system's CA bundle "
        raise SettingsError(f"{files.ca_variable}: {where}{_why(exc)}") from None
    if files.cert_file is not None:
        _load_cert_chain(context, files)
    return context


def _load_cert_chain(context: ssl.SSLContext, files: TlsFiles) -> None:
    key = str(files.key_file) if files.key_file is not None else None
    asked: list[bool] = []

    def password() -> str:
        # Called only for an encrypted key: that tells a wrong password from a bad file,
        # which OpenSSL reports alike. Without a callback it would prompt on the terminal.
        asked.append(True)
        if files.key_password is None:
            raise _KeyIsEncrypted
        return files.key_password

    try:
        context.load_cert_chain(str(files.cert_file), key, password)
    except _KeyIsEncrypted:
        hint = (
            f"set {files.password_variable}_FILE to a file holding its password"
            if files.password_variable
            else "give it unencrypted"
        )
        variable = files.key_variable if files.key_file is not None else files.cert_variable
        raise SettingsError(f"{variable}: the key is encrypted; {hint}") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or ""
        if asked and reason != "KEY_VALUES_MISMATCH":
            variable = files.password_variable or files.key_variable or files.cert_variable
            raise SettingsError(f"{variable}: {_REASONS['BAD_DECRYPT']}") from None
        if reason == "KEY_VALUES_MISMATCH" and files.key_file is not None:
            mismatch = f"{files.key_file} {_REASONS[reason]} in {files.cert_variable}"
            raise SettingsError(f"{files.key_variable}: {mismatch}") from None
        raise SettingsError(f"{files.cert_variable}: {files.cert_file} {_why(exc)}") from None


class _KeyIsEncrypted(Exception):
    pass


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason in _REASONS:
        return _REASONS[reason]
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, ssl.SSLError):
        return f"cannot be read ({exc.strerror})"
    text = _SOURCE_LOCATION.sub("", str(exc)).strip()
    if text.endswith("PEM lib"):  # OpenSSL's word for "this file is not what PEM should be"
        return _REASONS["PEM_LIB"]
    return f"cannot be loaded ({text})" if text else "cannot be loaded"
