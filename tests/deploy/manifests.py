"""Rendering the kustomize overlays and reading what they say, for the manifest tests."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumer.settings import ENV_PREFIX

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = tuple(sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir()))

Doc = dict[str, Any]

_QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|Ki|Mi|Gi)?$")
_FACTORS = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail(
            "kubectl is not on PATH: the manifest tests render the overlays with "
            "`kubectl kustomize`; install kubectl (it bundles kustomize)"
        )
    return path


@functools.cache
def rendered_text(overlay: str) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize k8s/overlays/{overlay} failed:\n{result.stderr}")
    return result.stdout


def render(overlay: str) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(rendered_text(overlay)) if doc]


def only(docs: list[Doc], kind: str) -> Doc:
    matches = [doc for doc in docs if doc["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


def named(docs: list[Doc], kind: str, name: str) -> Doc | None:
    return next(
        (d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name),
        None,
    )


def pod_spec(docs: list[Doc]) -> Doc:
    spec: Doc = only(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def main_container(docs: list[Doc]) -> Doc:
    containers: list[Doc] = pod_spec(docs)["containers"]
    assert len(containers) == 1, "one container: leadsync"
    return containers[0]


def all_containers(docs: list[Doc]) -> Iterator[Doc]:
    spec = pod_spec(docs)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def config(docs: list[Doc]) -> dict[str, str]:
    """The data of the ConfigMap the container's envFrom names."""
    (source,) = main_container(docs)["envFrom"]
    configmap = named(docs, "ConfigMap", source["configMapRef"]["name"])
    assert configmap is not None, "envFrom names a ConfigMap the overlay does not render"
    data: dict[str, str] = configmap["data"]
    return data


def secret_refs(docs: list[Doc]) -> dict[str, tuple[str, str]]:
    """Environment variable -> (Secret name, key) for every secretKeyRef."""
    return {
        env["name"]: (ref["name"], ref["key"])
        for env in main_container(docs).get("env", [])
        if (ref := env.get("valueFrom", {}).get("secretKeyRef"))
    }


def secret_mounts(docs: list[Doc]) -> dict[str, str]:
    """Mount path -> Secret name, for every Secret volume the container mounts."""
    secrets = {
        volume["name"]: volume["secret"]["secretName"]
        for volume in pod_spec(docs).get("volumes", [])
        if "secret" in volume
    }
    return {
        mount["mountPath"].rstrip("/"): secrets[mount["name"]]
        for mount in main_container(docs).get("volumeMounts", [])
        if mount["name"] in secrets
    }


def plain_env(docs: list[Doc]) -> dict[str, str]:
    """The container's ``env`` entries with a literal value."""
    return {
        env["name"]: str(env["value"])
        for env in main_container(docs).get("env", [])
        if "value" in env
    }


def secret_files(docs: list[Doc]) -> dict[str, tuple[str, str]]:
    """Secret variable -> (Secret name, key), for every ``<VARIABLE>_FILE`` that names a
    file of a mounted Secret (a Secret volume's file is named by its key)."""
    mounts = secret_mounts(docs)
    found = {}
    for name, value in plain_env(docs).items():
        directory, _, key = value.rpartition("/")
        if name.endswith("_FILE") and directory in mounts:
            found[name.removesuffix("_FILE")] = (mounts[directory], key)
    return found


def secret_sources(docs: list[Doc]) -> dict[str, tuple[str, str]]:
    """Secret variable -> (Secret name, key), by reference or as a file."""
    return secret_refs(docs) | secret_files(docs)


def quantity(value: str | int | float) -> float:
    match = _QUANTITY.match(str(value))
    assert match, f"unreadable quantity {value!r}"
    number, suffix = match.groups()
    return float(number) * (_FACTORS[suffix] if suffix else 1.0)


def ports_of_hosts(hosts: str, default: int) -> set[int]:
    """Ports of a comma-separated ``host:port`` list (Kafka bootstrap servers)."""
    return {
        int(part.rsplit(":", 1)[1]) if ":" in part else default
        for part in (p.strip() for p in hosts.split(","))
        if part
    }


def dockerfile_instruction(name: str, stage: int = -1) -> list[str]:
    """Arguments of every ``name`` instruction of one Dockerfile stage (default: the final one)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages = re.split(r"^FROM\s", text, flags=re.MULTILINE)[1:]
    return [
        line.split(None, 1)[1].strip()
        for line in stages[stage].splitlines()
        if line.split(None, 1)[:1] == [name]
    ]


def variable(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def uses_sasl(data: dict[str, str]) -> bool:
    return data.get(variable("kafka_security_protocol"), "PLAINTEXT").startswith("SASL_")
