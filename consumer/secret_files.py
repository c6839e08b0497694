"""Secrets read from files: ``LEADSYNC_<SECRET>_FILE`` names a file holding the secret.

Kubernetes mounts a Secret as files, which keeps the value out of the
process's environment (``/proc/<pid>/environ``, ``kubectl describe``, crash
reports). Exactly one of the variable and its ``_FILE`` may be set; the file's
trailing newline is stripped (``echo`` and most editors add one), and an
unreadable, empty or multi-line file is a problem named by the ``_FILE``
variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

ENV_PREFIX: Final = "LEADSYNC_"
MAX_SECRET_BYTES: Final = 64 * 1024

SECRET_FILES: Final = {
    "noojee_api_key": "noojee_api_key_file",
    "kafka_sasl_password": "kafka_sasl_password_file",
    "kafka_ssl_key_password": "kafka_ssl_key_password_file",
}
"""Secret field -> the field naming a file that holds it."""

_UNREAD: Final = "<unread>"
"""Stands in for a secret whose file failed, so that only the file's problem is reported."""


def variable(field: str) -> str:
    """``kafka_bootstrap`` -> ``LEADSYNC_KAFKA_BOOTSTRAP``."""
    return f"{ENV_PREFIX}{field.upper()}"


class SecretFileProblem(str):
    """What went wrong with a secret's file; the ``_FILE`` field's validator raises it."""

    __slots__ = ()


def read_secret_file(path: Path) -> str:
    """The secret in ``path`` without its trailing newline; ``ValueError`` says what is wrong."""
    try:
        if path.is_dir():
            raise ValueError(f"{path} is a directory, not a file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"{path} cannot be read ({reason})") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise ValueError(f"{path} is larger than {MAX_SECRET_BYTES // 1024} KiB: not a secret")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret.strip():
        raise ValueError(f"{path} is empty")
    if "\n" in secret or "\r" in secret:
        raise ValueError(f"{path} holds more than one line; a secret file holds the secret alone")
    return secret


def resolve_secret_files(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (field -> raw value) with each ``_FILE`` secret read into its field.

    A problem leaves a ``SecretFileProblem`` in the ``_FILE`` field, so that the
    error names that variable, and a stand-in in the secret's field, so that
    "required but not set" does not repeat it.
    """
    data = dict(data)
    for secret, source in SECRET_FILES.items():
        path = data.get(source)
        if path is None or (isinstance(path, str) and not path.strip()):
            data.pop(source, None)  # set but empty reads as unset, like the other variables
            continue
        if data.get(secret) is not None:
            data[source] = SecretFileProblem(
                f"set either {variable(secret)} or {variable(source)}, not both"
            )
            continue
        try:
            data[secret] = read_secret_file(Path(str(path)))
        except ValueError as exc:
            data[source] = SecretFileProblem(str(exc))
            data[secret] = _UNREAD
    return data
