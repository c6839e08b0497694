"""The one validator ``leadsync check`` and ``leadsync run`` share.

Everything that can be known about a configuration before anything connects,
all of it at once:

- every ``LEADSYNC_*`` name set is a setting (a misspelt one would be ignored
  silently: ``LEADSYNC_RATE_LIMT=5`` ran at 40/s), with a did-you-mean;
- the settings model: types, bounds, Kafka security combinations, files that
  exist and can be read, secrets read from ``_FILE`` variables;
- the input decoder: the mapping file, ``INPUT_FORMAT=debezium`` without one;
- the ``OTEL_*`` variables;
- the TLS material of Kafka and of the PBX: CA bundles, certificates and keys
  that load.

Problems raise one ``SettingsError``, one line each, each starting with the
variable to fix; the commands print them and exit 2.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, Final, TypeVar

from consumer.errors import SettingsError
from consumer.kafka.clients import tls_context
from consumer.observability.otel_plan import otel_problems
from consumer.secret_files import ENV_PREFIX, variable
from consumer.settings import Settings, load_settings
from consumer.wiring import build_decoder, pbx_tls_context
from contracts.formats import DecoderConfig

_T = TypeVar("_T")

OTHER_PROGRAMS: Final = frozenset({"LEADSYNC_SIM_API_KEY"})
"""``LEADSYNC_*`` names other leadsync commands read (``leadsync simulate``'s key): not
settings of the service, and not mistakes when they are set in the same shell."""


@dataclass(frozen=True, slots=True)
class Configuration:
    """Settings that passed every check, and what was built from them on the way."""

    settings: Settings
    decoder: DecoderConfig


def known_variables() -> frozenset[str]:
    return frozenset(variable(name) for name in Settings.model_fields) | OTHER_PROGRAMS


def unknown_variables(names: Iterable[str]) -> list[str]:
    """One problem per ``LEADSYNC_*`` name that nothing reads, with the closest real one."""
    known = known_variables()
    suffixes = {name.removeprefix(ENV_PREFIX): name for name in known}
    problems = []
    for name in sorted(names):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        close = get_close_matches(upper.removeprefix(ENV_PREFIX), suffixes, n=1, cutoff=0.75)
        hint = (
            f"did you mean {suffixes[close[0]]}?"
            if close
            else "see the configuration table in README.md"
        )
        problems.append(f"{name}: not a leadsync setting, so it would be ignored; {hint}")
    return problems


def prepare(settings: Settings, environ: Mapping[str, str]) -> Configuration:
    """What loaded ``settings`` still need checked; ``SettingsError`` lists every problem."""
    problems: list[str] = []
    decoder = _collect(problems, build_decoder, settings)
    problems += otel_problems(environ)
    _collect(problems, tls_context, settings)
    _collect(problems, pbx_tls_context, settings)
    if problems or decoder is None:
        raise SettingsError("\n".join(problems))
    return Configuration(settings, decoder)


def load_configuration(**overrides: Any) -> Configuration:
    """This process's configuration (``overrides`` win over the environment), checked whole.

    ``SettingsError`` lists every problem found: unknown names and the settings
    first; the checks that need usable settings only once those pass.
    """
    environ = os.environ
    problems = unknown_variables(environ)
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        problems += str(exc).splitlines()
        problems += otel_problems(environ)
        raise SettingsError("\n".join(problems)) from None
    try:
        configuration = prepare(settings, environ)
    except SettingsError as exc:
        problems += str(exc).splitlines()
    if problems:
        raise SettingsError("\n".join(problems))
    return configuration


def _collect(problems: list[str], build: Callable[[Settings], _T], settings: Settings) -> _T | None:
    try:
        return build(settings)
    except SettingsError as exc:
        problems += str(exc).splitlines()
        return None
