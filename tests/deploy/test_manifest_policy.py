"""The rendered pod is locked down, probed, bounded, pinned, fenced and selected as intended."""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from urllib.parse import urlsplit

import pytest
import yaml

from consumer.settings import PBX_QUEUE_LIMIT_S, Settings
from tests.deploy.manifests import (
    K8S,
    OVERLAYS,
    ROOT,
    all_containers,
    config,
    dockerfile_instruction,
    main_container,
    named,
    only,
    pod_spec,
    ports_of_hosts,
    quantity,
    render,
    rendered_text,
    variable,
)

# Volume types the restricted Pod Security Standard admits.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral"} | {
    "persistentVolumeClaim",
    "projected",
    "secret",
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_meets_the_restricted_pod_security_standard(overlay: str) -> None:
    docs = render(overlay)
    spec = pod_spec(docs)
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert isinstance(pod["runAsUser"], int)
    assert pod["runAsUser"] > 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert not any(spec.get(f) for f in ("hostNetwork", "hostPID", "hostIPC"))
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False  # a Service would inject LEADSYNC_* variables
    for volume in spec.get("volumes", []):
        assert set(volume) - {"name"} <= RESTRICTED_VOLUMES, volume
    emptydirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    for container in all_containers(docs):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context.get("privileged", False) is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert not set(context["capabilities"].get("add", [])) - {"NET_BIND_SERVICE"}
        assert context.get("runAsUser", pod["runAsUser"]) > 0
        assert not [p for p in container.get("ports", []) if "hostPort" in p]
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert mounts.get("/tmp") in emptydirs, "/tmp must be a writable emptyDir"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_resources_and_shutdown(overlay: str) -> None:
    docs = render(overlay)
    container, data = main_container(docs), config(docs)
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path
        assert port_names.get(http["port"], http["port"]) == int(data[variable("health_port")])
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    resources = container["resources"]
    for name in ("cpu", "memory"):
        assert quantity(resources["requests"][name]) <= quantity(resources["limits"][name])
    drain = float(
        data.get(variable("drain_timeout_s"), Settings.model_fields["drain_timeout_s"].default)
    )
    assert pod_spec(docs)["terminationGracePeriodSeconds"] > drain + PBX_QUEUE_LIMIT_S


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_image_is_pinned_and_matches_the_dockerfile(overlay: str) -> None:
    docs = render(overlay)
    container = main_container(docs)
    image = container["image"]
    match = re.fullmatch(
        r"[^@]+?(?::(?P<tag>[\w][\w.-]*))?(?P<digest>@sha256:[0-9a-f]{64})?", image
    )
    assert match, f"unreadable image reference {image}"
    assert match["tag"] or match["digest"], f"{image} is neither tagged nor pinned"
    assert match["tag"] != "latest"
    (user,) = dockerfile_instruction("USER")
    assert int(user.split(":")[0]) == pod_spec(docs)["securityContext"]["runAsUser"]
    assert dockerfile_instruction("EXPOSE") == [config(docs)[variable("health_port")]]
    (cmd,) = dockerfile_instruction("CMD")
    assert "command" not in container, "the image's ENTRYPOINT (leadsync) must stay"
    assert container.get("args", json.loads(cmd)) == ["run"]


def test_base_image_tag_is_the_project_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deployment = yaml.safe_load((K8S / "base" / "deployment.yaml").read_text())
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(f":{project['version']}")
    (entrypoint,) = dockerfile_instruction("ENTRYPOINT")
    assert json.loads(entrypoint)[0] in project["scripts"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_allows_only_what_leadsync_needs(overlay: str) -> None:
    docs = render(overlay)
    data, policy = config(docs), only(docs, "NetworkPolicy")["spec"]
    assert {"Ingress", "Egress"} <= set(policy["policyTypes"])
    for rule in policy.get("ingress", []):
        assert [p["port"] for p in rule["ports"]] == ["http"], "ingress beyond the health port"
    for rule in policy["egress"]:
        assert rule.get("to"), f"egress rule open to every destination: {rule}"
        assert rule.get("ports"), f"egress rule open on every port: {rule}"
        for peer in rule["to"]:
            if "ipBlock" in peer:
                assert ipaddress.ip_network(peer["ipBlock"]["cidr"]).prefixlen > 0
    allowed = {(p["port"], p.get("protocol", "TCP")) for r in policy["egress"] for p in r["ports"]}
    pbx = urlsplit(data[variable("noojee_url")])
    needed = {(53, "UDP"), (53, "TCP"), (pbx.port or {"https": 443, "http": 80}[pbx.scheme], "TCP")}
    needed |= {(port, "TCP") for port in ports_of_hosts(data[variable("kafka_bootstrap")], 9092)}
    if otlp := data.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        needed.add((urlsplit(otlp).port or 4318, "TCP"))
    assert needed <= allowed, f"egress lacks {needed - allowed}"
    assert ".invalid" not in rendered_text(overlay), "a base placeholder was not replaced"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_selectors_find_the_pods(overlay: str) -> None:
    docs = render(overlay)
    labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selectors = {
        "Deployment": only(docs, "Deployment")["spec"]["selector"]["matchLabels"],
        "Service": only(docs, "Service")["spec"]["selector"],
        "PodDisruptionBudget": only(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        "NetworkPolicy": only(docs, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
    }
    for kind, selector in selectors.items():
        assert selector, f"{kind} has an empty selector"
        assert selector.items() <= labels.items(), f"{kind} selects no pod"
    service_port = only(docs, "Service")["spec"]["ports"][0]["targetPort"]
    assert service_port in {p["name"] for p in main_container(docs)["ports"]}
    account = pod_spec(docs)["serviceAccountName"]
    assert named(docs, "ServiceAccount", account) is not None
