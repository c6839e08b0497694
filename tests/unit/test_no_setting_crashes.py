"""No value of any setting produces a traceback: each one is accepted, or refused by name.

Every variable of ``Settings`` gets every hostile value below. What the
validator refuses must come back as ``SettingsError`` lines that each start
with a variable and name the one under test; what it accepts must build every
client and the whole service without an exception. (``tests/integration/
test_bad_configuration.py`` runs ``leadsync check`` and ``leadsync run`` as
processes for a sample of these.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.configuration import load_configuration
from consumer.errors import SettingsError
from consumer.kafka.clients import build_consumer, build_producer, connection_options
from consumer.limits.throttle import Throttle
from consumer.settings import ENV_PREFIX, Settings, effective_settings
from consumer.wiring import build_client, build_decoder, build_pipeline
from tests.settings_env import SECRET, only_required_settings
from tests.telemetry_helpers import recorded

HOSTILE = (
    "",
    " ",
    "x",
    "-1",
    "0",
    "0.0000001",
    "1e309",
    "nan",
    "inf",
    "-inf",
    "99999999999999999999999",
    "true",
    "ö",
    "a,b",
    ",",
    ":",
    "/nonexistent/file",
    "{directory}",
    "{empty_file}",
    "x" * 5000,
)


def variables() -> list[str]:
    return [f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    only_required_settings(monkeypatch)


@pytest.mark.parametrize("variable", variables())
async def test_every_hostile_value_is_accepted_or_refused_by_name(
    variable: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "empty").write_text("")
    refused = 0
    for raw in HOSTILE:
        value = raw.format(directory=tmp_path, empty_file=tmp_path / "empty") if "{" in raw else raw
        monkeypatch.setenv(variable, value)
        try:
            settings = load_configuration().settings
        except SettingsError as exc:
            refused += 1
            lines = str(exc).splitlines()
            assert not [line for line in lines if SECRET in line]
            assert lines, f"{variable}={value!r}: an empty error"
            assert all(line.startswith(ENV_PREFIX) for line in lines), (variable, value[:40], lines)
            assert any(variable.removesuffix("_FILE") in line for line in lines), (
                value[:40],
                lines,
            )
            continue
        await build_everything(settings)
    # Each variable refuses at least the values that cannot mean anything for it.
    assert refused, f"{variable} accepted every hostile value"


async def build_everything(settings: Settings) -> None:
    """Everything ``leadsync run`` builds from settings before it connects."""
    assert SECRET not in " ".join(effective_settings(settings).values())
    connection_options(settings)
    throttle = Throttle(settings.rate_limit, settings.max_concurrency)
    consumer = build_consumer(settings)
    producer = build_producer(settings)
    telemetry = recorded(tracing=False).telemetry
    try:
        async with build_client(settings) as client:
            build_pipeline(
                settings,
                build_decoder(settings),
                consumer=consumer,
                producer=producer,
                client=client,
                throttle=throttle,
                telemetry=telemetry,
                leads_group=lambda: True,
                health_port=0,
            )
    finally:
        await producer.stop()
        await consumer.stop()
        await telemetry.shutdown()
