"""The Kubernetes manifests render, validate, and agree with the settings and with each other."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from consumer.errors import SettingsError
from consumer.settings import ENV_PREFIX, Settings, load_settings
from tests.deploy.manifests import (
    K8S,
    OVERLAYS,
    ROOT,
    config,
    main_container,
    named,
    only,
    plain_env,
    render,
    rendered_text,
    secret_files,
    secret_refs,
    secret_sources,
    uses_sasl,
    variable,
)

# The oldest Kubernetes the manifests promise to work on, and the newest the
# validator knows (its default).
KUBERNETES_VERSIONS = ("1.29.0", None)

# Settings a deployment deliberately leaves at their default, and why.
NOT_IN_CONFIGMAP = {
    "kafka_ssl_cafile": "a path: set only by an overlay that also mounts the CA bundle",
    "mapping_file": "a path: set only by an overlay that also mounts the mapping",
    "kafka_ssl_certfile": "a client certificate: set by an overlay that mounts one",
    "kafka_ssl_keyfile": "a client certificate's key: set by an overlay that mounts one",
    "kafka_ssl_key_password": "only for an encrypted client key, and then as a file",
    "kafka_ssl_key_password_file": "only for an encrypted client key an overlay mounts",
    "noojee_ca_file": "a path: set only by an overlay for a PBX with a private CA",
    "noojee_client_cert": "a client certificate: set by an overlay that mounts one",
    "noojee_client_key": "a client certificate's key: set by an overlay that mounts one",
    "noojee_undialled_disposition": "a disposition of the overlay's campaign; unset by default",
}
SASL_FIELDS = {
    "kafka_sasl_mechanism",
    "kafka_sasl_username",
    "kafka_sasl_password",
    "kafka_sasl_password_file",
}
# Secrets an overlay's pods must be given, besides SASL's password when SASL is on.
REQUIRED_SECRETS = {"noojee_api_key"}
# LEADSYNC_KAFKA_SASL_MECHANISM -> KEDA's kafka scaler `sasl`.
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
LOOKS_SECRET = re.compile(r"(^|_)(API_?KEY|PASSWORD|SECRET|TOKEN|CREDENTIALS?)(_|$)", re.I)


def secret_fields() -> set[str]:
    return {
        name
        for name, info in Settings.model_fields.items()
        if info.annotation is SecretStr or SecretStr in typing.get_args(info.annotation)
    }


def test_every_overlay_is_tested() -> None:
    assert {"dev", "prod"} <= set(OVERLAYS)


def test_yaml_is_lint_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", "k8s", ".yamllint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"yamllint:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS, ids=lambda v: v or "latest")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_objects_pass_strict_schema_validation(
    overlay: str, version: str | None, tmp_path: Path
) -> None:
    # kubernetes-validate knows only the built-in kinds: it would merely warn
    # about KEDA's, so they are left out here and checked by hand below.
    # Any warning about what is left (an unknown apiVersion) fails the test.
    core = [doc for doc in render(overlay) if not doc["apiVersion"].startswith("keda.sh/")]
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(core))
    command = [sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", str(manifest)]
    if version:
        command[3:3] = ["--kubernetes-version", version]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stdout.strip(), result.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_objects_have_what_their_crds_require(overlay: str) -> None:
    docs = render(overlay)
    scaled = only(docs, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == only(docs, "Deployment")["metadata"]["name"]
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    # The CRD types trigger metadata as map[string]string: a bare number or
    # boolean would be rejected by the API server.
    assert all(isinstance(v, str) for v in trigger["metadata"].values()), trigger["metadata"]
    for auth in (d for d in docs if d["kind"] == "TriggerAuthentication"):
        assert auth["apiVersion"] == "keda.sh/v1alpha1"
        for ref in auth["spec"].get("secretTargetRef", []):
            assert {"parameter", "name", "key"} <= ref.keys(), ref
        for ref in auth["spec"].get("env", []):
            assert {"parameter", "name"} <= ref.keys(), ref


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scaling_agrees_with_the_configuration(overlay: str) -> None:
    docs = render(overlay)
    data = config(docs)
    scaled = only(docs, "ScaledObject")
    spec, (trigger,) = scaled["spec"], scaled["spec"]["triggers"]
    meta, defaults = trigger["metadata"], Settings.model_fields
    assert meta["bootstrapServers"] == data[variable("kafka_bootstrap")]
    assert meta["consumerGroup"] == data.get(variable("group_id"), defaults["group_id"].default)
    assert meta["topic"] == data.get(variable("source_topic"), defaults["source_topic"].default)
    assert meta["offsetResetPolicy"] == "earliest"  # what the service does without a commit
    partitions = int(scaled["metadata"]["annotations"]["leadsync/source-topic-partitions"])
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
    # Replicas beyond the PBX's slots would only stand by (consumer/limits/fleet_plan.py).
    concurrency = data.get(variable("max_concurrency"), defaults["max_concurrency"].default)
    assert spec["maxReplicaCount"] <= int(concurrency)
    protocol = data.get(variable("kafka_security_protocol"), "PLAINTEXT")
    assert meta["tls"] == ("enable" if protocol.endswith("SSL") else "disable")
    if not uses_sasl(data):
        assert meta["sasl"] == "none"
        assert "authenticationRef" not in trigger
        assert not [d for d in docs if d["kind"] == "TriggerAuthentication"]
        return
    assert meta["sasl"] == KEDA_SASL[data[variable("kafka_sasl_mechanism")]]
    auth = named(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth is not None, "authenticationRef names a TriggerAuthentication not rendered"
    by_parameter = {r["parameter"]: r for r in auth["spec"].get("secretTargetRef", [])}
    password = by_parameter["password"]
    source = secret_sources(docs)[variable("kafka_sasl_password")]
    assert (password["name"], password["key"]) == source
    usernames = [r["name"] for r in auth["spec"].get("env", []) if r["parameter"] == "username"]
    assert "username" in by_parameter or usernames == [variable("kafka_sasl_username")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_is_configured_or_deliberately_left_out(
    overlay: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = render(overlay)
    data, secrets, env = config(docs), secret_sources(docs), plain_env(docs)
    assert all(k.startswith((ENV_PREFIX, "OTEL_")) for k in data), sorted(data)
    given = {*data, *secrets, *env}
    provided = {name for name in Settings.model_fields if variable(name) in given}
    required = {name for name, info in Settings.model_fields.items() if info.is_required()}
    assert required <= provided, f"required settings not provided: {required - provided}"
    expected = set(Settings.model_fields) - NOT_IN_CONFIGMAP.keys()
    if not uses_sasl(data):
        expected -= SASL_FIELDS
        assert not provided & SASL_FIELDS, "SASL settings without a SASL protocol"
    missing = sorted(variable(name) for name in expected - provided)
    assert not missing, f"neither in the ConfigMap nor in NOT_IN_CONFIGMAP: {missing}"
    # The values themselves must pass the settings model, with stand-ins for secrets.
    for name in [k for k in os.environ if k.upper().startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in data.items():
        monkeypatch.setenv(name, value)
    for name in secret_refs(docs):
        monkeypatch.setenv(name, "stand-in")
    for name in secret_files(docs):  # the Secret's files, as the pod would see them
        stand_in = tmp_path / name
        stand_in.write_text("stand-in\n")
        monkeypatch.setenv(f"{name}_FILE", str(stand_in))
    try:
        settings = load_settings()
    except SettingsError as exc:
        pytest.fail(f"k8s/overlays/{overlay} configures leadsync wrongly:\n{exc}")
    assert settings.health_port == main_container(docs)["ports"][0]["containerPort"]


def test_manifests_name_only_existing_settings() -> None:
    sources = [p for p in K8S.rglob("*") if p.is_file()]
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in sources}
    texts |= {f"rendered {overlay}": rendered_text(overlay) for overlay in OVERLAYS}
    known = {variable(name) for name in Settings.model_fields}
    unknown = {
        (where, name)
        for where, text in texts.items()
        for name in re.findall(r"\bLEADSYNC_[A-Z0-9_]*[A-Z0-9]\b", text)
        if name not in known
    }
    assert not unknown, f"names that consumer.settings.Settings does not read: {sorted(unknown)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_only_from_secret_files(overlay: str) -> None:
    docs = render(overlay)
    assert not [d for d in docs if d["kind"] == "Secret"], "a Secret in the manifests"
    assert not [k for k in config(docs) if LOOKS_SECRET.search(k)]
    files = secret_files(docs)
    for env in main_container(docs).get("env", []):
        if LOOKS_SECRET.search(env["name"]):
            # Only as a file of a mounted Secret: a secretKeyRef would put the value
            # in the environment, where `kubectl describe` and /proc show it.
            assert env["name"].endswith("_FILE"), env
            assert env["name"].removesuffix("_FILE") in files, env
    assert not [name for name in secret_refs(docs) if name.startswith(ENV_PREFIX)]
    wanted = REQUIRED_SECRETS | ({"kafka_sasl_password"} if uses_sasl(config(docs)) else set())
    assert wanted <= secret_fields(), "a wanted secret that the settings do not hold as one"
    assert {variable(name) for name in wanted} == set(files)
    assert all(secret == "leadsync-credentials" for secret, _ in files.values())
    assert "apikey=" not in rendered_text(overlay).lower()
