"""consumer.errors: the drawing at the module's top is its tree; exit codes come from it."""

from __future__ import annotations

import re

import pytest

from consumer import errors
from consumer.errors import LeadsyncError, exit_code


def subclasses(cls: type[LeadsyncError]) -> set[type[LeadsyncError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= subclasses(sub)
    return found


def test_the_drawing_names_every_error_with_its_exit_code() -> None:
    drawing = (errors.__doc__ or "").split("::")[1].split("\n\n")[1]
    drawn = {
        match[0]: match[1]
        for match in re.findall(r"(\w+(?:Error|Refused|Unreachable|Limit|Failed))\s+(\d)?", drawing)
    }
    classes: set[type[LeadsyncError]] = {LeadsyncError, *subclasses(LeadsyncError)}
    assert set(drawn) == {cls.__name__ for cls in classes}
    for cls in subclasses(LeadsyncError):
        if drawn[cls.__name__]:
            assert int(drawn[cls.__name__]) == cls.exit_code, cls.__name__


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.SettingsError("x"), 2),
        (errors.TelemetryConfigError("x"), 2),
        (errors.CredentialsRefused("x"), 3),
        (errors.KafkaUnreachable("x"), 4),
        (errors.InternalErrorLimit("x"), 5),
        (errors.ServiceFailed("x"), 1),
        (RuntimeError("a bug"), 1),
    ],
)
def test_exit_codes_come_from_the_tree(error: BaseException, code: int) -> None:
    assert exit_code(error) == code


def test_the_services_own_stops_have_codes_of_their_own() -> None:
    stops = [errors.SettingsError, errors.CredentialsRefused]
    stops += [errors.KafkaUnreachable, errors.InternalErrorLimit]
    codes = [cls.exit_code for cls in stops]
    assert len(set(codes)) == len(codes)
    assert errors.EXIT_OK not in codes
