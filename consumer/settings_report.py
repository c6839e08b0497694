"""What the settings say back: a validation error as one line per variable, and
the values in force with every secret hidden (the start-up log line)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from pydantic import AnyHttpUrl, SecretStr, ValidationError
from pydantic_settings import BaseSettings

from consumer.secret_files import ENV_PREFIX, SECRET_FILES, variable

HIDDEN: Final = "<hidden>"


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, each starting with the variable it is about."""
    lines = []
    for problem in error.errors():
        where = problem["loc"][0] if problem["loc"] else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        if not where:
            # Rules across variables name theirs at the start of each line.
            lines += [
                line if line.startswith(ENV_PREFIX) else f"configuration: {line}"
                for line in message.splitlines()
            ]
            continue
        name = variable(str(where))
        if problem["type"] == "missing":
            message = "is required but not set"
            if str(where) in SECRET_FILES:
                message += f" (or set {name}_FILE to a file holding it)"
        lines.append(f"{name}: {message}")
    return "\n".join(lines)


def effective_settings(settings: BaseSettings) -> dict[str, str]:
    """Every variable set and the value in force, secrets hidden: the start-up log line."""
    values = ((name, getattr(settings, name)) for name in type(settings).model_fields)
    return {variable(name): _shown(value) for name, value in values if value is not None}


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        return HIDDEN
    if isinstance(value, AnyHttpUrl) and value.password is not None:
        return str(value).replace(f":{value.password}@", f":{HIDDEN}@", 1)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value)
    return value.value if isinstance(value, StrEnum) else str(value)
