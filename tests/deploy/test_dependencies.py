"""Dependencies: bounded where a release may break us, pinned for the image by constraints.txt.

pyproject.toml says what leadsync works with; constraints.txt (``make constraints``,
uv) says exactly which versions an image and ``make`` install. The two must agree,
and the Dockerfile must install with the file, or images built from the same source
differ.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.deploy.manifests import dockerfile_instruction

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CONSTRAINTS = ROOT / "constraints.txt"


def requirements(*groups: str) -> list[Requirement]:
    found = []
    for group in groups:
        listed = (
            PROJECT["dependencies"]
            if group == "runtime"
            else PROJECT["optional-dependencies"][group]
        )
        found += [Requirement(text) for text in listed]
    return found


def pins() -> dict[str, Version]:
    pinned: dict[str, Version] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"constraints.txt must pin exactly: {text}"
            pinned[canonicalize_name(requirement.name)] = Version(spec.version)
    return pinned


def lowest(requirement: Requirement) -> Version | None:
    floors = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(floors) if floors else None


def highest(requirement: Requirement) -> Version | None:
    ceilings = [Version(s.version) for s in requirement.specifier if s.operator == "<"]
    return min(ceilings) if ceilings else None


def test_the_constraints_pin_every_runtime_and_demo_dependency_within_its_bounds() -> None:
    pinned = pins()
    for requirement in requirements("runtime", "demo"):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in constraints.txt: run `make constraints`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside pyproject.toml's "
            f"{requirement.specifier}: run `make constraints`"
        )


def test_the_constraints_hold_no_dev_tool() -> None:
    """The image's pins only: a dev tool there would be pinned by accident, never updated."""
    runtime = {canonicalize_name(r.name) for r in requirements("runtime", "demo")}
    dev_only = {canonicalize_name(r.name) for r in requirements("dev")} - runtime
    assert not dev_only & pins().keys()


@pytest.mark.parametrize(
    "requirement", requirements("runtime", "demo", "dev"), ids=lambda r: str(r.name)
)
def test_pre_1_0_and_beta_dependencies_have_an_upper_bound(requirement: Requirement) -> None:
    """A 0.x release may break its API in any minor, a beta in any release: a 0.x
    dependency stops before 1.0 at the latest, a beta before its next minor."""
    floor = lowest(requirement)
    assert floor is not None, f"{requirement}: no lower bound"
    if floor.major >= 1 and not floor.is_prerelease:
        return
    ceiling = highest(requirement)
    assert ceiling is not None, f"{requirement}: a pre-1.0 or beta dependency needs a `<` bound"
    if floor.is_prerelease:
        assert ceiling <= Version(f"{floor.major}.{floor.minor + 1}"), requirement
    else:
        assert ceiling <= Version("1"), requirement


def test_the_opentelemetry_release_train_moves_together() -> None:
    """The beta exporters pin the SDK's minor: every OpenTelemetry package has one bound."""
    ceilings = {
        r.name: highest(r) for r in requirements("runtime") if r.name.startswith("opentelemetry")
    }
    assert None not in ceilings.values(), ceilings
    stable = {v for name, v in ceilings.items() if v is not None and v.major >= 1}
    assert len(stable) == 1, f"the 1.x OpenTelemetry packages disagree: {ceilings}"


def test_the_image_installs_with_the_constraints() -> None:
    copied = " ".join(dockerfile_instruction("COPY", stage=0))
    assert "constraints.txt" in copied.split(), copied
    installs = [
        run for run in dockerfile_instruction("RUN", stage=0) if re.search(r"\binstall\b", run)
    ]
    assert installs, "the builder stage installs nothing"
    for run in installs:
        assert re.search(r"(--constraint|-c)\s+constraints\.txt", run), run
    assert "!constraints.txt" in (ROOT / ".dockerignore").read_text().split()
