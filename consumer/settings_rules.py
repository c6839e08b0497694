"""Pure rules about settings that are more than a type: Kafka security, names, addresses.

Each rule returns the problems it finds, one line each, starting with the
variable to fix; ``consumer.settings`` raises them as one ``SettingsError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from difflib import get_close_matches
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import NoDecode

from consumer.secret_files import SecretFileProblem, variable


class InputFormat(StrEnum):
    AUTO = "auto"
    NATIVE = "native"
    CLOUDEVENTS = "cloudevents"
    DEBEZIUM = "debezium"


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


CsvTuple = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_csv)]
"""``a, b,c`` -> ``("a", "b", "c")``: a list setting as people write it."""


MAX_NAME_CHARS: Final = 255


def _event_types(types: tuple[str, ...]) -> tuple[str, ...]:
    for name in types:
        if len(name) > MAX_NAME_CHARS or not name.isprintable() or any(c.isspace() for c in name):
            shown = name[:40] + ("…" if len(name) > 40 else "")
            raise ValueError(
                f"{shown!r} is not a CloudEvents type (up to {MAX_NAME_CHARS} characters, "
                "no spaces or control characters)"
            )
    return types


EventTypes = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(_split_csv), AfterValidator(_event_types)
]
"""CloudEvents ``type`` values, comma-separated."""


def _real_disposition(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None  # set but empty: unset, as a ConfigMap writes it
    if value.strip().lower() == "<no change>":
        raise ValueError("must name a real (action-free) disposition, not <No Change>")
    if len(value) > MAX_NAME_CHARS or not value.isprintable():
        raise ValueError(
            f"is not a disposition name (up to {MAX_NAME_CHARS} characters, no control characters)"
        )
    return value.strip()


Disposition = Annotated[str | None, BeforeValidator(_real_disposition)]
"""A disposition of the campaign, by name; empty means unset."""


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


SASL_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
"""What leadsync can configure from variables (GSSAPI and OAUTHBEARER need code)."""

_TOPIC: Final = re.compile(r"[A-Za-z0-9._-]{1,249}")
_HOST: Final = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?")


def _readable(path: Path) -> Path:
    """A file that exists and this process can read (checked now, not at first use)."""
    try:
        if not path.exists():
            raise ValueError(f"{path} does not exist")
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ValueError(f"{path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    return path


def _no_problem(value: Any) -> Any:
    if isinstance(value, SecretFileProblem):
        raise ValueError(str(value))  # found while the secret was read from this file
    return value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


ReadableFile = Annotated[Path, AfterValidator(_readable)]
"""A path to a file that exists and can be read, checked at start-up rather than at first use."""
SecretFile = Annotated[Path, BeforeValidator(_no_problem)]
"""A ``_FILE`` variable: reading it happened already; a problem found then is raised here."""
Protocol = Annotated[SecurityProtocol, BeforeValidator(_upper)]


def pbx_tls_problems(
    scheme: str, *, ca_file: Path | None, client_cert: Path | None, client_key: Path | None
) -> list[str]:
    """The PBX's TLS files: used only over https, and a key only with its certificate."""
    problems = []
    if scheme != "https":
        files = {
            "noojee_ca_file": ca_file,
            "noojee_client_cert": client_cert,
            "noojee_client_key": client_key,
        }
        problems += [
            f"{variable(field)}: set, but LEADSYNC_NOOJEE_URL is not https://"
            for field, path in files.items()
            if path is not None
        ]
    if client_key is not None and client_cert is None:
        problems.append(
            "LEADSYNC_NOOJEE_CLIENT_KEY: set without LEADSYNC_NOOJEE_CLIENT_CERT, "
            "the certificate it belongs to"
        )
    return problems


def normal_mechanism(value: str) -> str:
    """``scram_sha_512`` -> ``SCRAM-SHA-512``: case and separators are not what matters."""
    return value.strip().upper().replace("_", "-")


def shared_topic_problems(source: str, dead_letters: str, progress: str | None) -> list[str]:
    """Each topic has one kind of record: a shared one would feed dead letters or
    progress records back in as lead changes, or mix the two."""
    problems = []
    if dead_letters == source:
        problems.append("LEADSYNC_DLQ_TOPIC: must differ from LEADSYNC_SOURCE_TOPIC")
    if progress is not None and progress in {source, dead_letters}:
        other = "LEADSYNC_SOURCE_TOPIC" if progress == source else "the dead-letter topic"
        problems.append(f"LEADSYNC_PROGRESS_TOPIC: must differ from {other} ({progress})")
    return problems


def topic_problem(name: str) -> str | None:
    """Kafka's own rule for topic names, said before the broker says it."""
    if _TOPIC.fullmatch(name) and name not in {".", ".."}:
        return None
    return "is not a Kafka topic name (1 to 249 of A-Z, a-z, 0-9, '.', '_', '-')"


def bootstrap_problem(servers: str) -> str | None:
    """``host:port[,host:port]``, each port 1-65535 (9092 when left out)."""
    entries = [entry.strip() for entry in servers.split(",")]
    for entry in entries:
        match = _HOST.fullmatch(entry)
        if match is None or (match.group(2) and not 1 <= int(match.group(2)) <= 65535):
            shown = entry or "an empty entry"
            return f"{shown} is not host:port (expected host:port[,host:port], e.g. kafka-1:9092)"
    return None


def security_problems(
    protocol: SecurityProtocol,
    *,
    mechanism: str | None,
    username: str | None,
    password_set: bool,
    tls_files: dict[str, Path | None],
    key_password_set: bool,
) -> Iterator[str]:
    """What is missing or unused for ``protocol`` (``tls_files``: field -> path or None)."""
    uses_sasl = protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
    uses_tls = protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)
    protocol_is = f"LEADSYNC_KAFKA_SECURITY_PROTOCOL={protocol.value}"
    if uses_sasl:
        yield from _sasl_problems(protocol_is, mechanism, username, password_set)
    else:
        unused = {
            "kafka_sasl_mechanism": mechanism is not None,
            "kafka_sasl_username": username is not None,
            "kafka_sasl_password": password_set,
        }
        for field in (name for name, is_set in unused.items() if is_set):
            yield (
                f"{variable(field)}: set, but {protocol_is} does not use SASL "
                "(use SASL_SSL or SASL_PLAINTEXT, or unset it)"
            )
    if not uses_tls:
        set_files = [field for field, path in tls_files.items() if path is not None]
        if key_password_set:
            set_files.append("kafka_ssl_key_password")
        for field in set_files:
            yield f"{variable(field)}: set, but {protocol_is} does not use TLS (SSL, SASL_SSL do)"
        return
    if tls_files.get("kafka_ssl_keyfile") and not tls_files.get("kafka_ssl_certfile"):
        yield (
            "LEADSYNC_KAFKA_SSL_KEYFILE: set without LEADSYNC_KAFKA_SSL_CERTFILE, "
            "the certificate it belongs to"
        )
    if key_password_set and not tls_files.get("kafka_ssl_certfile"):
        yield "LEADSYNC_KAFKA_SSL_KEY_PASSWORD: set without a client certificate to unlock"


def _sasl_problems(
    protocol_is: str, mechanism: str | None, username: str | None, password_set: bool
) -> Iterator[str]:
    known = ", ".join(SASL_MECHANISMS)
    if mechanism is None:
        yield f"LEADSYNC_KAFKA_SASL_MECHANISM: required with {protocol_is} ({known})"
        return
    if mechanism not in SASL_MECHANISMS:
        close = get_close_matches(mechanism, SASL_MECHANISMS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        yield f"LEADSYNC_KAFKA_SASL_MECHANISM: {mechanism} is not one of {known}{hint}"
        return
    with_mechanism = f"LEADSYNC_KAFKA_SASL_MECHANISM={mechanism}"
    if not username:
        yield f"LEADSYNC_KAFKA_SASL_USERNAME: required with {with_mechanism}"
    if not password_set:
        yield (
            f"LEADSYNC_KAFKA_SASL_PASSWORD: required with {with_mechanism} "
            "(or LEADSYNC_KAFKA_SASL_PASSWORD_FILE)"
        )
